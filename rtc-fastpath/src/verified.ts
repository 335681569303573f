/**
 * The werift release every private field and behaviour this workspace relies on was checked
 * against (README.md lists them). package.json pins werift to exactly this version, and
 * test/werift-version.test.ts fails when the installed werift is another one: moving werift
 * means reading each listed reach against the new release, then changing both together.
 */
export const VERIFIED_WERIFT = '0.25.2';
