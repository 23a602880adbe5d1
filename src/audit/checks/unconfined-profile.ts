import { finding, type AuditCheck, type Finding } from "../finding.js";
import { containerSpec, serviceObject, sh } from "../service-facts.js";

interface Privileges {
  Seccomp?: { Mode?: string };
  AppArmor?: { Mode?: string };
  SELinuxContext?: { Disable?: boolean };
}

/** CAP002: seccomp `unconfined`, AppArmor `disabled` (apparmor=unconfined) or SELinux labelling disabled. */
export const unconfinedProfile: AuditCheck = {
  id: "CAP002",
  title: "security profile turned off",
  severity: "high",
  severities: "high for seccomp and AppArmor; medium for SELinux label=disable",
  why: "Docker's default seccomp and AppArmor profiles block the system calls and mounts most container escapes need; turning them off removes that layer for the whole service.",
  run(inv) {
    const out: Finding[] = [];
    for (const s of inv.services) {
      const p = ((containerSpec(s) as { Privileges?: Privileges }).Privileges ?? {}) as Privileges;
      const fix = (what: string) =>
        `remove ${what} from the service (stack file security_opt, or Spec.TaskTemplate.ContainerSpec.Privileges) and redeploy: docker stack deploy … / docker service update --force ${sh(s.name)} after fixing the spec`;
      if (p.Seccomp?.Mode === "unconfined") {
        out.push(finding(unconfinedProfile, { object: serviceObject(s), message: "runs with seccomp=unconfined", fix: fix("seccomp=unconfined") }));
      }
      if (p.AppArmor?.Mode === "disabled") {
        out.push(finding(unconfinedProfile, { object: serviceObject(s), message: "runs with apparmor=unconfined (AppArmor disabled)", fix: fix("apparmor=unconfined") }));
      }
      if (p.SELinuxContext?.Disable === true) {
        out.push(finding(unconfinedProfile, { severity: "medium", object: serviceObject(s), message: "runs with SELinux labelling disabled (label=disable)", fix: fix("label=disable") }));
      }
    }
    return out;
  },
};
