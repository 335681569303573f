/**
 * Which Events a reconcile records: one per kind of action it took (children created, put
 * back, deleted) and one per change of state a user cares about (FFmpeg started, failed,
 * finished; Ready; a route conflict). Pure; derived from the plan and the status change, so
 * a reconcile that changes nothing records nothing.
 */
import type { ProcessStatus } from '@corecast/api';
import { DRAIN_ANNOTATION, PIN_DRIFT, RELAY_TARGETS_ANNOTATION, REPLICA_LABEL, RTP_SOURCE_ANNOTATION } from '../children/egress-pod.ts';
import { KIND_NAMES } from '../kube/apply.ts';
import { CONDITIONS } from './status.ts';
import type { ApplyAction, DeleteAction, EventSpec } from './types.ts';

const label = (a: { kind: ApplyAction['kind']; name: string }) => `${KIND_NAMES[a.kind]} ${a.name}`;

/**
 * Events for the writes that went through. A forced create is no Created: it takes back a
 * child that exists already as this Process's (the caches had not shown it yet, decide.ts).
 */
export function actionEvents(applies: readonly ApplyAction[], deletes: readonly DeleteAction[]): EventSpec[] {
  const events: EventSpec[] = [];
  const created = applies
    .filter((a) => a.verb === 'create' && !a.force)
    .map((a) => label({ kind: a.kind, name: a.object.metadata?.name ?? '' }));
  const pins = applies.filter((a) => a.verb === 'update' && a.drift === PIN_DRIFT);
  // Relay targets and drain deadlines move with scaling, which has Events of its own (decide-replicas.ts).
  const own = new Set([PIN_DRIFT, ...[RELAY_TARGETS_ANNOTATION, DRAIN_ANNOTATION].map((a) => `metadata.annotations.${a}`)]);
  const updated = applies
    .filter((a) => a.verb === 'update' && !own.has(a.drift ?? ''))
    .map((a) => label({ kind: a.kind, name: a.object.metadata?.name ?? '' }));
  if (created.length > 0) events.push({ type: 'Normal', reason: 'Created', action: 'Create', note: `Created ${created.join(', ')}` });
  if (updated.length > 0) {
    events.push({
      type: 'Normal',
      reason: 'Updated',
      action: 'Update',
      note: `Updated ${updated.join(', ')} to match the spec (changed outside the operator, or the spec or configuration changed)`,
    });
  }
  // An egress pod re-pinned to a new FFmpeg pod's address, or a sibling replica to replica 0's
  // (clearing it is not worth an Event).
  for (const a of pins) {
    const pin = a.object.metadata?.annotations?.[RTP_SOURCE_ANNOTATION] ?? '';
    if (pin === '') continue;
    const replica = a.object.metadata?.labels?.[REPLICA_LABEL] ?? '0';
    const source = replica === '0' ? "the FFmpeg pod's address" : "replica 0's address";
    events.push({
      type: 'Normal',
      reason: 'SourcePinned',
      action: 'Update',
      note: `${label({ kind: a.kind, name: a.object.metadata?.name ?? '' })} accepts RTP only from ${source} ${pin}`,
    });
  }
  // Deletions grouped by reason, so "why" reads once.
  const byWhy = new Map<string, string[]>();
  for (const d of deletes) byWhy.set(d.why, [...(byWhy.get(d.why) ?? []), label(d)]);
  for (const [why, names] of byWhy) {
    events.push({ type: 'Normal', reason: 'Deleted', action: 'Delete', note: `Deleted ${names.join(', ')}: ${why}` });
  }
  return events;
}

function cond(status: ProcessStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

/** Events for changes of state between the old and the new status. */
export function transitionEvents(old: ProcessStatus, next: ProcessStatus): EventSpec[] {
  const events: EventSpec[] = [];
  const oldReady = cond(old, CONDITIONS.ready);
  const ready = cond(next, CONDITIONS.ready);
  if (next.exec !== old.exec) {
    if (next.exec === 'running') {
      events.push({ type: 'Normal', reason: 'Started', action: 'Observe', note: 'FFmpeg is running' });
    } else if (next.exec === 'failed' || next.exec === 'killed' || next.exec === 'finished') {
      events.push({
        type: next.exec === 'finished' ? 'Normal' : 'Warning',
        reason: next.exec === 'finished' ? 'Finished' : next.exec === 'killed' ? 'Killed' : 'Failed',
        action: 'Observe',
        note: ready?.message ?? `FFmpeg ${next.exec}`,
      });
    }
  }
  if (ready && (ready.status !== oldReady?.status || ready.reason !== oldReady?.reason)) {
    // Exits are reported above; here the other reasons a person should hear about.
    const told = new Set(['Failed', 'Killed', 'Finished', 'Starting', 'Restarting', 'Stopping', 'RouteConflict']);
    if (ready.status === 'True') events.push({ type: 'Normal', reason: 'Ready', action: 'Observe', note: ready.message });
    else if (!told.has(ready.reason)) {
      const warn = new Set([
        'InvalidSpec',
        'ImagePullBackOff',
        'ErrImagePull',
        'CreateContainerConfigError',
        'NameTaken',
        'LoadBalancerAddressUnresolved',
        'NoHostPorts',
      ]);
      events.push({ type: warn.has(ready.reason) ? 'Warning' : 'Normal', reason: ready.reason, action: 'Observe', note: ready.message });
    }
  }
  const oldRoute = cond(old, CONDITIONS.routeConflict);
  const route = cond(next, CONDITIONS.routeConflict);
  if (route?.status === 'True' && oldRoute?.status !== 'True') {
    events.push({ type: 'Warning', reason: 'RouteConflict', action: 'Observe', note: route.message });
  } else if (route?.status === 'False' && oldRoute?.status === 'True') {
    events.push({ type: 'Normal', reason: 'RouteAssigned', action: 'Observe', note: route.message });
  }
  return events;
}
