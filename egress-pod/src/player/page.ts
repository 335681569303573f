/**
 * The player page of a process, served at `/api/v3/process/<id>/whep/player` so the one
 * ingress path that routes WHEP also routes the page. Its script is `runPlayer`'s own source.
 */
import { runPlayer } from './client.ts';

/** The page's script: `runPlayer`, as Node loaded it (types already stripped). */
export const PLAYER_SCRIPT = `"use strict";\n(${runPlayer.toString()})();\n`;

/**
 * Content-Security-Policy of the page: its own script only, media from WebRTC, requests to
 * its own origin; embeddable in other sites' frames (that is what the page is for).
 */
export const PLAYER_CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; form-action 'none'";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The HTML of the player page for `processId`. */
export function playerHtml(processId: string): string {
  const title = escapeHtml(`${processId} · Corecast`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  html, body { margin: 0; height: 100%; background: #000; color: #eee; font: 14px system-ui, sans-serif; }
  main { position: relative; height: 100%; display: flex; align-items: center; justify-content: center; }
  video { width: 100%; height: 100%; object-fit: contain; background: #000; }
  .bar { position: absolute; left: 0; right: 0; bottom: 0; display: flex; gap: 12px; align-items: center;
         padding: 8px 12px; background: linear-gradient(transparent, rgba(0,0,0,.7)); }
  #state { flex: 1; opacity: .85; }
  button { font: inherit; color: #fff; background: rgba(255,255,255,.15); border: 1px solid rgba(255,255,255,.4);
           border-radius: 4px; padding: 4px 12px; cursor: pointer; }
</style>
</head>
<body>
<main>
  <video id="video" autoplay muted playsinline></video>
  <div class="bar"><span id="state" data-state="connecting">connecting</span><button id="unmute" type="button" hidden>Unmute</button></div>
</main>
<script src="player/player.js"></script>
</body>
</html>
`;
}
