/**
 * A fan-out worker thread's entry (pool.ts starts it). Before werift loads, the thread is set to
 * run werift's crypto on node:crypto (rtc-fastpath's thread-crypto.ts): its DTLS certificate
 * made once with it, its ECDHE key exchanges done by it (~0.3 ms instead of ~5 ms of JavaScript
 * per handshake), and werift's certificate library and curve code never loaded (~200 modules,
 * ~5 MiB of heap per thread, and time at every thread's start), and werift's source is loaded lean
 * (rtc-fastpath's werift-source.ts). Then the thread itself
 * (fanout-thread.ts) is loaded: its static imports would all be resolved before any of its code
 * ran, so it is loaded from here.
 */
import { keepCryptoLibrariesOut, leanWeriftSource, useOwnDtlsCertificate } from '@corecast/rtc-fastpath';

keepCryptoLibrariesOut();
// werift's bundle kept one byte per character (0.7 MiB instead of 1.4), without ICU's collator,
// and its multicast-dns loaded only when used (rtc-fastpath's werift-source.ts).
leanWeriftSource();
await useOwnDtlsCertificate();
await import('./fanout-thread.ts');
