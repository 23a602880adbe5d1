/** Envoy sidecars: settings from labels, bootstrap rendering, strict validation against Envoy's protos. */
export { ENVOY_DEFAULTS, type EnvoySidecarSettings, type EnvoyUpstream } from "./envoy-sidecar-settings.js";
export { ENVOY_LABELS, parseEnvoyLabels, type EnvoyLabelDoc, type EnvoyLabelsContext } from "./parse-envoy-labels.js";
export { renderEnvoyBootstrap, renderEnvoyBootstrapYaml } from "./render-envoy-bootstrap.js";
export {
  BOOTSTRAP_TYPE,
  checkEnvoyFile,
  validateEnvoyConfig,
  type EnvoyConfigValidateParams,
  type EnvoyFinding,
  type EnvoyValidationResult,
} from "./validate-envoy-config.js";
export { envoyProtoRoot, loadEnvoyProtoRoot, type EnvoyProtoRootLoadParams } from "./envoy-proto-root.js";
