export { gatherAuditInventory, readEngineAccess, type AuditContext, type AuditInventory, type AuditInventoryGatherParams, type EngineAccess } from "./audit-inventory.js";
export { auditSarif, type AuditSarifParams } from "./audit-sarif.js";
export { finding, isSeverity, SEVERITIES, severityRank, type AuditCheck, type AuditObject, type Finding, type Severity } from "./finding.js";
export { AUDIT_CHECKS, runAudit } from "./run-audit.js";
