// The traffic that must flow through deploy/aws, proven over its parsed network ACLs and security groups:
// clients reach the load balancer, the load balancer reaches Homestead on 8008, Homestead reaches the
// database on 5432 and the internet (federation on 443 and 8448, AWS APIs on 443) through the NAT, and every
// reply comes back on the ephemeral ports its sender uses. The other policies prove that nothing else is
// open; this one proves that closing things did not cut what Homestead needs.
//
// NACLs are stateless and ordered: each port of a flow must be allowed by the first rule (lowest rule_number)
// that matches it. Security groups are stateful: the sender's egress and the receiver's ingress must both
// admit the flow. Peers are told symbolically: "internet", or a tier (public, app, data) named by a rule's
// CIDR (anywhere, var.vpc_cidr, or a tier's subnet CIDRs, directly or through for_each).
import { blocksOf, expressionSource, findResources, type Body, type Resource, type TerraformModule } from './hcl.ts'
import { ANYWHERE, literal, naclRules, refs, TCP } from './policy.ts'

type Peer = 'internet' | 'public' | 'app' | 'data'
type Range = [number, number]

/** Ports a Linux instance (Amazon Linux 2023) picks for its own connections, and what a NAT gateway, the ALB or a client may use. */
const LINUX_EPHEMERAL: Range = [32768, 60999]
const ANY_EPHEMERAL: Range = [1024, 65535]
const TIER_SOURCES: Record<string, Peer> = {
  'local.public_subnet_cidrs': 'public',
  'aws_subnet.public': 'public',
  'local.app_subnet_cidrs': 'app',
  'aws_subnet.app': 'app',
  'local.data_subnet_cidrs': 'data',
  'aws_subnet.data': 'data',
}

/** The peers a NACL rule's CIDR stands for. */
async function cidrPeers(module: TerraformModule, value: unknown, owner: Resource | undefined): Promise<Set<Peer>> {
  if (ANYWHERE.has(String(literal(module, value)))) return new Set(['internet', 'public', 'app', 'data'])
  const source = expressionSource(value)
  if (source === 'var.vpc_cidr') return new Set(['public', 'app', 'data'])
  const found = /^each\.(key|value)$/.test(source ?? '') ? await refs(owner?.body.for_each) : await refs(value)
  const tiers = new Set([...found].map((r) => TIER_SOURCES[r]))
  return tiers.size === 1 && !tiers.has(undefined) ? (tiers as Set<Peer>) : new Set()
}

/** The rule's number; `100 + each.value` counts as 100 (its instances keep their order among themselves). */
function ruleNumber(module: TerraformModule, rule: Body): number {
  const value = literal(module, rule.rule_number ?? rule.rule_no)
  if (typeof value === 'number') return value
  return Number(/^(\d+)\s*\+\s*each\.value$/.exec(expressionSource(rule.rule_number) ?? '')?.[1] ?? Number.NaN)
}

/** The ports of [lo, hi] that the tier's NACL does not let through from/to one peer (empty: all pass). */
async function naclBlocks(module: TerraformModule, tier: Peer, egress: boolean, peer: Peer, [lo, hi]: Range): Promise<string | undefined> {
  const rules = []
  for (const { rule, egress: e, owner } of await naclRules(module, tier)) {
    if (e !== egress) continue
    const protocol = String(literal(module, rule.protocol))
    if (protocol !== '-1' && protocol !== 'all' && !TCP.has(protocol)) continue
    if (!(await cidrPeers(module, rule.cidr_block, owner)).has(peer)) continue
    const all = protocol === '-1' || protocol === 'all'
    const from = all ? 0 : literal(module, rule.from_port)
    const to = all ? 65535 : literal(module, rule.to_port)
    if (typeof from !== 'number' || typeof to !== 'number') continue
    rules.push({ n: ruleNumber(module, rule), allow: literal(module, rule.rule_action ?? rule.action) === 'allow', from, to })
  }
  rules.sort((a, b) => a.n - b.n)
  for (let port = lo; port <= hi; port++) {
    const first = rules.find((r) => port >= r.from && port <= r.to)
    if (!first?.allow) return `port ${port}${first ? ` (denied by rule ${first.n})` : ''}`
  }
  return undefined
}

interface Groups {
  alb?: string
  app?: string
  db?: string
  nat?: string
}

async function securityGroups(module: TerraformModule): Promise<Groups> {
  const first = async (values: unknown[]) => {
    for (const v of values) for (const r of await refs(v)) if (r.startsWith('aws_security_group.')) return r
    return undefined
  }
  return {
    alb: await first(findResources(module, 'aws_lb').map((r) => r.body.security_groups)),
    app: await first(findResources(module, 'aws_launch_template').flatMap((lt) => blocksOf(lt.body, 'network_interfaces').map((n) => n.security_groups))),
    db: await first([...findResources(module, 'aws_rds_cluster'), ...findResources(module, 'aws_db_instance')].map((r) => r.body.vpc_security_group_ids)),
    nat: await first(findResources(module, 'aws_network_interface').map((r) => r.body.security_groups)),
  }
}

/** Whether the group admits (ingress) or sends (egress) TCP on every port of the range, to/from a peer group or the internet. */
async function groupAllows(module: TerraformModule, group: string, egress: boolean, peer: string, [lo, hi]: Range): Promise<boolean> {
  const type = egress ? 'aws_vpc_security_group_egress_rule' : 'aws_vpc_security_group_ingress_rule'
  const ranges: Range[] = []
  for (const rule of findResources(module, type)) {
    if (!(await refs(rule.body.security_group_id)).has(group)) continue
    const toPeer = peer === 'internet' ? ANYWHERE.has(String(literal(module, rule.body.cidr_ipv4))) : (await refs(rule.body.referenced_security_group_id)).has(peer) || ANYWHERE.has(String(literal(module, rule.body.cidr_ipv4)))
    if (!toPeer) continue
    const protocol = String(literal(module, rule.body.ip_protocol))
    if (protocol === '-1') ranges.push([0, 65535])
    else if (TCP.has(protocol)) {
      const from = literal(module, rule.body.from_port)
      const to = literal(module, rule.body.to_port)
      if (typeof from === 'number' && typeof to === 'number') ranges.push([from, to])
    }
  }
  for (let port = lo; port <= hi; port++) if (!ranges.some(([a, b]) => port >= a && port <= b)) return false
  return true
}

/** One leg of a flow through a network ACL: the tier's ACL, the direction, the peer on the other side, the ports. */
type NaclLeg = [tier: Peer, egress: boolean, peer: Peer, ports: Range, why: string]

const FLOWS: Array<{ name: string; nacl: NaclLeg[]; groups: Array<[from: keyof Groups | 'internet', to: keyof Groups | 'internet', ports: Range]> }> = [
  {
    name: 'clients → load balancer :443',
    nacl: [
      ['public', false, 'internet', [443, 443], 'the request'],
      ['public', true, 'internet', ANY_EPHEMERAL, "the reply to the client's ephemeral port"],
    ],
    groups: [['internet', 'alb', [443, 443]]],
  },
  {
    name: 'load balancer → Homestead :8008',
    nacl: [
      ['public', true, 'app', [8008, 8008], 'the forwarded request'],
      ['app', false, 'public', [8008, 8008], 'the forwarded request'],
      ['app', true, 'public', ANY_EPHEMERAL, "the reply to the load balancer's ephemeral port"],
      ['public', false, 'app', ANY_EPHEMERAL, "the reply to the load balancer's ephemeral port"],
    ],
    groups: [['alb', 'app', [8008, 8008]]],
  },
  {
    name: 'Homestead → database :5432',
    nacl: [
      ['app', true, 'data', [5432, 5432], 'the connection'],
      ['data', false, 'app', [5432, 5432], 'the connection'],
      ['data', true, 'app', LINUX_EPHEMERAL, "the reply to the instance's ephemeral port"],
      ['app', false, 'data', LINUX_EPHEMERAL, "the reply to the instance's ephemeral port"],
    ],
    groups: [['app', 'db', [5432, 5432]]],
  },
  ...([443, 8448] as const).map((port) => ({
    name: `Homestead → internet :${port} through the NAT (${port === 443 ? 'AWS APIs, federation' : 'federation'})`,
    nacl: [
      ['app', true, 'internet', [port, port], 'the connection'],
      ['public', false, 'app', [port, port], 'the connection, into the NAT'],
      ['public', true, 'internet', [port, port], 'the connection, out of the NAT'],
      ['public', false, 'internet', ANY_EPHEMERAL, "the reply to the NAT's source port"],
      ['public', true, 'app', LINUX_EPHEMERAL, "the reply, back to the instance's ephemeral port"],
      ['app', false, 'internet', LINUX_EPHEMERAL, "the reply to the instance's ephemeral port"],
    ] as NaclLeg[],
    groups: [
      ['app', 'internet', [port, port]],
      ['app', 'nat', [port, port]],
      ['nat', 'internet', [port, port]],
    ] as Array<[keyof Groups, keyof Groups | 'internet', Range]>,
  })),
]

/** The components a violation can name; policy.test.ts runs one test per component. */
export const FLOW_COMPONENTS = ['public NACL', 'app NACL', 'data NACL', 'alb security group', 'app security group', 'db security group', 'nat security group'] as const

export async function requiredTrafficFlows(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const groups = await securityGroups(module)
  for (const flow of FLOWS) {
    for (const [tier, egress, peer, ports, why] of flow.nacl) {
      const blocked = await naclBlocks(module, tier, egress, peer, ports)
      if (blocked) v.push(`${tier} NACL: ${flow.name}: ${egress ? 'egress to' : 'ingress from'} ${peer} on ${ports.join('-')} (${why}) is blocked at ${blocked}`)
    }
    for (const [from, to, ports] of flow.groups) {
      const sender = from === 'internet' ? undefined : groups[from]
      const receiver = to === 'internet' ? undefined : groups[to]
      // The NAT group exists only with nat_type = "instance" (a NAT gateway has no security group).
      if ((from === 'nat' || to === 'nat') && !groups.nat) continue
      if (from !== 'internet' && !sender) v.push(`${from} security group: not found (${flow.name})`)
      if (to !== 'internet' && !receiver) v.push(`${to} security group: not found (${flow.name})`)
      if (sender && !(await groupAllows(module, sender, true, receiver ?? 'internet', ports))) v.push(`${from} security group: ${flow.name}: ${sender} sends nothing to ${receiver ?? 'the internet'} on ${ports.join('-')}`)
      if (receiver && !(await groupAllows(module, receiver, false, sender ?? 'internet', ports))) v.push(`${to} security group: ${flow.name}: ${receiver} admits nothing from ${sender ?? 'the internet'} on ${ports.join('-')}`)
    }
  }
  for (const component of FLOW_COMPONENTS) if (component.endsWith('NACL') && (await naclRules(module, component.split(' ')[0] as string)).length === 0) v.push(`${component}: no rules found`)
  return v.filter((line, i, all) => all.indexOf(line) === i)
}
