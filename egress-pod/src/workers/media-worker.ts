/**
 * A fan-out worker thread's entry (pool.ts starts it). Before werift loads, the thread is set to
 * make its DTLS certificate with node:crypto and to keep werift's certificate library out of its
 * heap (rtc-fastpath's thread-certificate.ts: ~200 modules, ~3 MiB of heap per thread, and time
 * at every thread's start); then the thread itself (fanout-thread.ts) is loaded. Its static
 * imports would all be resolved before any of its code ran, so it is loaded from here.
 */
import { keepCertificateLibrariesOut, useOwnDtlsCertificate } from '@corecast/rtc-fastpath';

keepCertificateLibrariesOut();
await useOwnDtlsCertificate();
await import('./fanout-thread.ts');
