/**
 * Pod Security "restricted" settings shared by both pods
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted).
 */
import type { OperatorConfig } from '../config.ts';

/** Pod-level: non-root with a fixed uid (so any image works, whatever its USER) and the runtime's seccomp profile. */
export function podSecurityContext(config: OperatorConfig) {
  return {
    runAsNonRoot: true,
    runAsUser: config.pods.runAsUser,
    runAsGroup: config.pods.runAsGroup,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container-level: no privilege escalation, no capabilities, a read-only root file system. */
export function restrictedContainerSecurity() {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
  };
}

/** The only writable place in the containers: an emptyDir on /tmp. */
export const TMP_VOLUME = { name: 'tmp', emptyDir: {} };

/** Its mount. */
export const TMP_MOUNT = { name: 'tmp', mountPath: '/tmp' };
