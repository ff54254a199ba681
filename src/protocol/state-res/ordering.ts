// rooms/v2 "State resolution", Definitions: reverse topological power ordering and mainline ordering.
import { stateKey, type RoomEvent, type StateKey } from '../events/types.ts'
import { userPowerLevel } from '../auth/index.ts'
import type { EventCache } from './store.ts'

const POWER_LEVELS = 'm.room.power_levels'
const CREATE_KEY = stateKey('m.room.create', '')
const POWER_LEVELS_KEY = stateKey(POWER_LEVELS, '')

/** Orders strings by Unicode code point, as Synapse's Python does (JS `<` compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    // A surrogate stands for a code point above U+FFFF, which sorts after every other BMP unit.
    if (xs !== ys) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

/**
 * Kahn's algorithm over `graph` (event → the auth events of it that are in the graph), emitting auth
 * events before the events that cite them and, among the candidates at each step, the smallest by
 * `compare`. Nodes on a cycle (impossible for hash-addressed events) are never emitted.
 */
export function lexicographicalTopologicalSort(
  graph: ReadonlyMap<string, ReadonlySet<string>>,
  compare: (a: string, b: string) => number,
): string[] {
  const outdegree = new Map<string, number>()
  const citedBy = new Map<string, string[]>()
  const heap = new MinHeap<string>(compare)
  for (const [node, edges] of graph) {
    outdegree.set(node, edges.size)
    if (edges.size === 0) heap.push(node)
    for (const edge of edges) {
      const list = citedBy.get(edge)
      if (list) list.push(node)
      else citedBy.set(edge, [node])
    }
  }
  const sorted: string[] = []
  while (heap.size > 0) {
    const node = heap.pop() as string
    sorted.push(node)
    for (const parent of citedBy.get(node) ?? []) {
      const left = (outdegree.get(parent) as number) - 1
      outdegree.set(parent, left)
      if (left === 0) heap.push(parent)
    }
  }
  return sorted
}

/** The power level of an event's sender according to its own auth events (power levels and create). */
export function senderPowerLevel(cache: EventCache, event: RoomEvent): number {
  const authState = new Map<StateKey, RoomEvent>()
  for (const authEvent of cache.authEvents(event.event_id)) {
    if (authEvent.state_key !== '') continue
    if (authEvent.type === POWER_LEVELS) authState.set(POWER_LEVELS_KEY, authEvent)
    else if (authEvent.type === 'm.room.create') authState.set(CREATE_KEY, authEvent)
  }
  return userPowerLevel(event.sender, authState, cache.version)
}

/**
 * Sorts the power events by the reverse topological power ordering. As in Synapse (and Ruma), the graph
 * holds each power event and the events of its auth chain reached through events of the full conflicted
 * set; those extra events are the enlargement of X in step 1 of the algorithm.
 */
export async function reverseTopologicalPowerSort(
  cache: EventCache,
  powerEvents: Iterable<string>,
  fullConflictedSet: ReadonlySet<string>,
): Promise<string[]> {
  const graph = new Map<string, Set<string>>()
  const stack = [...powerEvents]
  while (stack.length > 0) {
    const id = stack.pop() as string
    if (graph.has(id)) continue
    const edges = new Set<string>()
    graph.set(id, edges)
    for (const authId of cache.authIds(id)) {
      if (!fullConflictedSet.has(authId)) continue
      edges.add(authId)
      if (!graph.has(authId)) stack.push(authId)
    }
  }
  await cache.loadWithAuthEvents(graph.keys())

  const power = new Map<string, number>()
  for (const id of graph.keys()) power.set(id, senderPowerLevel(cache, cache.require(id)))
  return lexicographicalTopologicalSort(graph, (a, b) => {
    const pa = power.get(a) as number
    const pb = power.get(b) as number
    if (pa !== pb) return pa > pb ? -1 : 1
    return compareByTimestampThenId(cache.require(a), cache.require(b))
  })
}

function compareByTimestampThenId(x: RoomEvent, y: RoomEvent): number {
  if (x.origin_server_ts !== y.origin_server_ts) return x.origin_server_ts < y.origin_server_ts ? -1 : 1
  return compareCodePoints(x.event_id, y.event_id)
}

/** The first m.room.power_levels event among a loaded event's auth events, as Synapse picks it. */
function powerLevelsAuthEvent(cache: EventCache, id: string): string | undefined {
  return cache.authEvents(id).find((e) => e.type === POWER_LEVELS && e.state_key === '')?.event_id
}

/**
 * Sorts events by the mainline ordering based on `powerLevelsId` (the resolved power levels, if any).
 * Positions are counted from the oldest mainline event, 1 upwards, with 0 for events whose power levels
 * chain never meets the mainline (the spec's ∞), so sorting ascending matches the spec's relation. The
 * chains of all events are walked in lockstep, one store call per step.
 */
export async function mainlineSort(cache: EventCache, ids: readonly string[], powerLevelsId: string | undefined): Promise<string[]> {
  if (ids.length === 0) return []
  const mainline: string[] = []
  for (let pl = powerLevelsId; pl !== undefined; pl = powerLevelsAuthEvent(cache, pl)) {
    if (mainline.includes(pl)) break // a cyclic (malformed) chain
    await cache.loadWithAuthEvents([pl])
    cache.require(pl)
    mainline.push(pl)
  }
  const depth = new Map<string, number>(mainline.map((id, i) => [id, mainline.length - i]))

  // For each event still being walked: the power levels events visited so far.
  const walking = new Map<string, string[]>(ids.map((id) => [id, []]))
  const found = new Map<string, number>()
  await cache.loadWithAuthEvents(ids)
  while (walking.size > 0) {
    const next: string[] = []
    for (const [id, path] of walking) {
      const pl = powerLevelsAuthEvent(cache, path.at(-1) ?? id)
      const known = pl === undefined ? 0 : depth.get(pl)
      if (known !== undefined || path.includes(pl as string)) {
        const d = known ?? 0
        found.set(id, d)
        for (const visited of path) depth.set(visited, d)
        walking.delete(id)
      } else {
        path.push(pl as string)
        next.push(pl as string)
      }
    }
    await cache.loadWithAuthEvents(next)
  }

  return [...ids].sort((a, b) => {
    const da = found.get(a) as number
    const db = found.get(b) as number
    if (da !== db) return da - db
    return compareByTimestampThenId(cache.require(a), cache.require(b))
  })
}

/** A binary min-heap under a comparison function. */
class MinHeap<T> {
  private readonly items: T[] = []
  private readonly compare: (a: T, b: T) => number

  constructor(compare: (a: T, b: T) => number) {
    this.compare = compare
  }

  get size(): number {
    return this.items.length
  }

  push(item: T): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.compare(items[i] as T, items[parent] as T) >= 0) break
      ;[items[i], items[parent]] = [items[parent] as T, items[i] as T]
      i = parent
    }
  }

  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let smallest = i
        if (l < items.length && this.compare(items[l] as T, items[smallest] as T) < 0) smallest = l
        if (r < items.length && this.compare(items[r] as T, items[smallest] as T) < 0) smallest = r
        if (smallest === i) break
        ;[items[i], items[smallest]] = [items[smallest] as T, items[i] as T]
        i = smallest
      }
    }
    return top
  }
}
