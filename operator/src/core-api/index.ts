/** datarhei Core's REST API v3 over Process resources: the app factory and the pieces tests use. */
export { CORE_API_VERSION, type CoreApiOptions, createCoreApi } from './app.ts';
export { CORE_ID_ANNOTATION, coreIdOf, processNameFor } from './ids.ts';
export { IGNORED, toCoreConfig, toProcess } from './mapping.ts';
export { readCredentials, readSecretKey, type SecretKeyRef, tokenSettingsFor } from './settings.ts';
export { API_FIELD_MANAGER } from './store.ts';
export type { Credentials, TokenSettings } from './tokens.ts';
export { METADATA_ANNOTATION } from './view.ts';
