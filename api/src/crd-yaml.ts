/** The CRD as the YAML text committed to the repository. */
import { stringify } from 'yaml';
import { processCrd } from './crd.ts';

/** The committed CRD file's exact text. */
export function crdYaml(): string {
  return `# Generated from api/src/process.ts by \`npm run gen\`. Do not edit.\n${stringify(processCrd(), { lineWidth: 0 })}`;
}
