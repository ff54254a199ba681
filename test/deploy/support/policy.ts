// Policies over the parsed configuration that prove the reference architecture: what is public, what the data
// tier admits, what is open to the internet, encryption, deletion protection and IMDSv2. Each returns the
// violations it finds (empty: the policy holds). Tiers are told by the subnets' resource names:
// aws_subnet.public, aws_subnet.app and aws_subnet.data.
//
// Values are read statically: a literal, a variable's default, a local, or `each.key` of a rule whose
// for_each names the app tier. What cannot be read that way counts as a violation, so a policy never passes
// because it could not see.
import { requiredTrafficFlows } from './policy-flows.ts'
import {
  alarmsWatchTheService,
  everyDerivedNameFits,
  everyLogGroupHasARetention,
  federationLeavesTheApexAlone,
  firstApplyTraps,
  homesteadUsesItsOwnRole,
  livenessNotReadinessReplaces,
  theAmiStaysPut,
  theCheaperOptionsExist,
  theReleaseArtifactIsRolledOut,
} from './policy-items.ts'
import { blocksOf, expressionSource, findResources, isExpression, referencesIn, stringsIn, type Body, type Resource, type TerraformModule } from './hcl.ts'

const ALB_PUBLIC_PORTS = new Set([80, 443, 8448])
export const ANYWHERE = new Set(['0.0.0.0/0', '::/0'])
export const TCP = new Set(['tcp', '6'])

export const id = (r: Resource) => `${r.type}.${r.name}`

/** The resources (type.name), variables and locals a value refers to; count.index and each.* are left out. */
export async function refs(value: unknown): Promise<Set<string>> {
  const out = new Set<string>()
  for (const [text] of stringsIn(value)) {
    for (const ref of await referencesIn(text)) if (!/^(count|each|path)\./.test(ref)) out.add(ref.split('.').slice(0, 2).join('.'))
  }
  return out
}

/** The literal a value stands for: itself, a variable's default or a local; undefined when not static. */
export function literal(module: TerraformModule, value: unknown, depth = 0): unknown {
  if (!isExpression(value)) return value
  const source = expressionSource(value)
  const match = source && /^(var|local)\.([A-Za-z0-9_-]+)$/.exec(source)
  if (!match || depth > 5) return undefined
  if (match[1] === 'var') return literal(module, module.variables[match[2] as string]?.default, depth + 1)
  return literal(module, module.locals[match[2] as string], depth + 1)
}

export function resourcesReferring(module: TerraformModule, type: string, key: string, target: Resource): Promise<Resource[]> {
  const wanted = id(target)
  return Promise.all(findResources(module, type).map(async (r) => ((await refs(r.body[key])).has(wanted) ? r : undefined))).then((rs) => rs.filter((r): r is Resource => r !== undefined))
}

export async function tierOfSubnets(value: unknown): Promise<string | undefined> {
  const found = [...(await refs(value))]
  const tiers = new Set(found.map((r) => (r.startsWith('aws_subnet.') ? r.slice('aws_subnet.'.length) : '?')))
  return tiers.size === 1 ? [...tiers][0] : undefined
}

export async function onlyTheLoadBalancerIsPublic(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  for (const lb of [...findResources(module, 'aws_lb'), ...findResources(module, 'aws_alb')]) {
    if (literal(module, lb.body.internal) === true) continue
    if ((literal(module, lb.body.load_balancer_type) ?? 'application') !== 'application') v.push(`${id(lb)}: an internet-facing load balancer that is not the ALB`)
    if ((await tierOfSubnets(lb.body.subnets)) !== 'public') v.push(`${id(lb)}: internet-facing, so it must sit in the public subnets only`)
  }
  // The one kind of standalone instance allowed: a NAT instance, whose network interface sits in a public
  // subnet with source/destination checking off (it forwards for the app tier and serves nothing).
  const natInterfaces = new Set<string>()
  for (const eni of findResources(module, 'aws_network_interface')) {
    if ((await tierOfSubnets(eni.body.subnet_id)) === 'public' && literal(module, eni.body.source_dest_check) === false) natInterfaces.add(id(eni))
    else v.push(`${id(eni)}: a standalone network interface may only be a NAT instance's, in a public subnet with source_dest_check = false`)
  }
  for (const instance of findResources(module, 'aws_instance')) {
    const enis = await Promise.all(blocksOf(instance.body, 'primary_network_interface').map((n) => refs(n.network_interface_id)))
    const isNat = enis.length === 1 && [...(enis[0] ?? [])].every((r) => natInterfaces.has(r)) && (enis[0]?.size ?? 0) > 0
    if (!isNat || instance.body.subnet_id !== undefined || instance.body.associate_public_ip_address !== undefined) v.push(`${id(instance)}: instances must come from the autoscaling group in the app tier (or be a NAT instance on its own public interface)`)
  }
  for (const subnet of findResources(module, 'aws_subnet')) {
    if (literal(module, subnet.body.map_public_ip_on_launch ?? false) !== false) v.push(`${id(subnet)}: map_public_ip_on_launch must be false`)
  }
  for (const lt of findResources(module, 'aws_launch_template')) {
    const nics = blocksOf(lt.body, 'network_interfaces')
    if (nics.length === 0) v.push(`${id(lt)}: needs a network_interfaces block with associate_public_ip_address = false`)
    for (const nic of nics) if (literal(module, nic.associate_public_ip_address) !== false) v.push(`${id(lt)}: associate_public_ip_address must be false`)
  }
  for (const asg of findResources(module, 'aws_autoscaling_group')) {
    if ((await tierOfSubnets(asg.body.vpc_zone_identifier)) !== 'app') v.push(`${id(asg)}: instances must launch in the app subnets only`)
  }
  for (const db of [...findResources(module, 'aws_rds_cluster_instance'), ...findResources(module, 'aws_db_instance')]) {
    if (literal(module, db.body.publicly_accessible ?? false) !== false) v.push(`${id(db)}: publicly_accessible must be false`)
  }
  for (const nat of findResources(module, 'aws_nat_gateway')) {
    if ((await tierOfSubnets(nat.body.subnet_id)) !== 'public') v.push(`${id(nat)}: a NAT gateway belongs in a public subnet`)
  }
  for (const eip of findResources(module, 'aws_eip')) {
    const associations = await resourcesReferring(module, 'aws_eip_association', 'allocation_id', eip)
    const toNat = await Promise.all(associations.map(async (a) => a.body.instance_id === undefined && [...(await refs(a.body.network_interface_id))].every((r) => natInterfaces.has(r))))
    const natGateway = (await resourcesReferring(module, 'aws_nat_gateway', 'allocation_id', eip)).length > 0
    if (eip.body.instance !== undefined || eip.body.network_interface !== undefined || !toNat.every(Boolean) || !(natGateway || associations.length > 0)) v.push(`${id(eip)}: an elastic IP may serve only a NAT gateway or a NAT instance's interface`)
  }
  for (const bucket of findResources(module, 'aws_s3_bucket')) {
    const blocks = await resourcesReferring(module, 'aws_s3_bucket_public_access_block', 'bucket', bucket)
    const all = ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets']
    if (!blocks.some((b) => all.every((k) => literal(module, b.body[k]) === true))) v.push(`${id(bucket)}: needs a public access block with all four settings true`)
  }
  return v
}

/** The NACL rules (resources and inline blocks) of the network ACLs that cover one tier's subnets. */
export async function naclRules(module: TerraformModule, tier: string): Promise<Array<{ where: string; rule: Body; egress: boolean; owner?: Resource }>> {
  const out: Array<{ where: string; rule: Body; egress: boolean; owner?: Resource }> = []
  for (const nacl of findResources(module, 'aws_network_acl')) {
    if ((await tierOfSubnets(nacl.body.subnet_ids)) !== tier) continue
    for (const direction of ['ingress', 'egress'] as const) {
      for (const rule of blocksOf(nacl.body, direction)) out.push({ where: `${id(nacl)} ${direction}`, rule, egress: direction === 'egress' })
    }
    for (const rule of await resourcesReferring(module, 'aws_network_acl_rule', 'network_acl_id', nacl)) {
      out.push({ where: id(rule), rule: rule.body, egress: literal(module, rule.body.egress) === true, owner: rule })
    }
  }
  return out
}

/** Whether a CIDR value names only the app tier's subnets (directly, through local.app_subnet_cidrs, or each.key/value of such a for_each). */
async function isAppTierCidr(value: unknown, owner: Resource | undefined): Promise<boolean> {
  const source = expressionSource(value)
  if (source === undefined) return false
  const appSources = new Set(['local.app_subnet_cidrs', 'aws_subnet.app'])
  if (/^each\.(key|value)$/.test(source)) {
    const forEach = owner?.body.for_each
    const found = await refs(forEach)
    return found.size > 0 && [...found].every((r) => appSources.has(r))
  }
  const found = await refs(value)
  return found.size > 0 && [...found].every((r) => appSources.has(r))
}

export async function theDataTierAdmitsOnlyTheAppTier(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const rules = await naclRules(module, 'data')
  if (rules.length === 0) v.push('no network ACL with rules covers the data subnets')
  for (const { where, rule, egress, owner } of rules) {
    if (egress || literal(module, rule.rule_action ?? rule.action) !== 'allow') continue
    if (rule.ipv6_cidr_block !== undefined) v.push(`${where}: IPv6 ingress into the data tier`)
    const protocol = String(literal(module, rule.protocol))
    if (!TCP.has(protocol) || literal(module, rule.from_port) !== 5432 || literal(module, rule.to_port) !== 5432) v.push(`${where}: the data tier admits only TCP 5432`)
    if (!(await isAppTierCidr(rule.cidr_block, owner))) v.push(`${where}: the data tier admits only the app tier's CIDRs (got ${JSON.stringify(rule.cidr_block)})`)
  }
  for (const table of findResources(module, 'aws_route_table')) {
    const associations = await resourcesReferring(module, 'aws_route_table_association', 'route_table_id', table)
    const tiers = new Set(await Promise.all(associations.map((a) => tierOfSubnets(a.body.subnet_id))))
    if (!tiers.has('data')) continue
    if (tiers.size > 1) v.push(`${id(table)}: the data tier's route table is shared with another tier`)
    if (blocksOf(table.body, 'route').length > 0) v.push(`${id(table)}: the data tier's route table must hold no routes`)
    if ((await resourcesReferring(module, 'aws_route', 'route_table_id', table)).length > 0) v.push(`${id(table)}: the data tier has a route out of the VPC`)
  }
  const appGroups = new Set<string>()
  for (const lt of findResources(module, 'aws_launch_template')) for (const nic of blocksOf(lt.body, 'network_interfaces')) for (const r of await refs(nic.security_groups)) appGroups.add(r)
  for (const cluster of [...findResources(module, 'aws_rds_cluster'), ...findResources(module, 'aws_db_instance')]) {
    const groupName = [...(await refs(cluster.body.db_subnet_group_name))][0]
    const group = findResources(module, 'aws_db_subnet_group').find((g) => id(g) === groupName)
    if (!group || (await tierOfSubnets(group.body.subnet_ids)) !== 'data') v.push(`${id(cluster)}: its subnet group must hold the data subnets only`)
    for (const sgName of await refs(cluster.body.vpc_security_group_ids)) {
      const sg = findResources(module, 'aws_security_group').find((g) => id(g) === sgName)
      if (!sg) continue
      if (blocksOf(sg.body, 'ingress').length > 0) v.push(`${sgName}: inline ingress on the database group`)
      for (const rule of await resourcesReferring(module, 'aws_vpc_security_group_ingress_rule', 'security_group_id', sg)) {
        const fromApp = [...(await refs(rule.body.referenced_security_group_id))].every((r) => appGroups.has(r)) && rule.body.referenced_security_group_id !== undefined
        const other = ['cidr_ipv4', 'cidr_ipv6', 'prefix_list_id'].some((k) => rule.body[k] !== undefined)
        if (!fromApp || other) v.push(`${id(rule)}: the database admits only the app instances' security group`)
        if (literal(module, rule.body.from_port) !== 5432 || literal(module, rule.body.to_port) !== 5432) v.push(`${id(rule)}: the database admits only port 5432`)
      }
      for (const rule of findResources(module, 'aws_security_group_rule')) {
        if ((await refs(rule.body.security_group_id)).has(sgName) && literal(module, rule.body.type) === 'ingress') v.push(`${id(rule)}: use aws_vpc_security_group_ingress_rule from the app group`)
      }
    }
  }
  return v
}

export function portsOf(module: TerraformModule, body: Body, fromKey = 'from_port', toKey = 'to_port'): [number, number] | undefined {
  const from = literal(module, body[fromKey])
  const to = literal(module, body[toKey])
  return typeof from === 'number' && typeof to === 'number' ? [from, to] : undefined
}

export async function noOpenIngressExceptTheLoadBalancer(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const albGroups = new Set<string>()
  for (const lb of findResources(module, 'aws_lb')) if (literal(module, lb.body.internal) !== true) for (const r of await refs(lb.body.security_groups)) albGroups.add(r)
  const checkGroupRule = (where: string, group: Set<string>, ports: [number, number] | undefined, protocol: unknown) => {
    const onAlb = group.size > 0 && [...group].every((g) => albGroups.has(g))
    const portOk = ports !== undefined && ports[0] === ports[1] && ALB_PUBLIC_PORTS.has(ports[0]) && TCP.has(String(literal(module, protocol)))
    if (!onAlb || !portOk) v.push(`${where}: open to the internet (only the load balancer's 443, 80 and 8448 may be)`)
  }
  for (const rule of findResources(module, 'aws_vpc_security_group_ingress_rule')) {
    if (![rule.body.cidr_ipv4, rule.body.cidr_ipv6].some((c) => ANYWHERE.has(String(literal(module, c))))) continue
    checkGroupRule(id(rule), await refs(rule.body.security_group_id), portsOf(module, rule.body), rule.body.ip_protocol)
  }
  for (const rule of findResources(module, 'aws_security_group_rule')) {
    if (literal(module, rule.body.type) !== 'ingress') continue
    const cidrs = [literal(module, rule.body.cidr_blocks), literal(module, rule.body.ipv6_cidr_blocks)].flat()
    if (cidrs.some((c) => ANYWHERE.has(String(c))) || isExpression(rule.body.cidr_blocks)) checkGroupRule(id(rule), await refs(rule.body.security_group_id), portsOf(module, rule.body), rule.body.protocol)
  }
  for (const sg of findResources(module, 'aws_security_group')) {
    for (const ingress of blocksOf(sg.body, 'ingress')) {
      const cidrs = [literal(module, ingress.cidr_blocks), literal(module, ingress.ipv6_cidr_blocks)].flat()
      if (cidrs.some((c) => ANYWHERE.has(String(c))) || isExpression(ingress.cidr_blocks)) checkGroupRule(`${id(sg)} ingress`, new Set([id(sg)]), portsOf(module, ingress), ingress.protocol)
    }
  }
  // Network ACLs are stateless: besides the listener ports, replies to the tier's own connections
  // (ephemeral ports, 1024 and up) must come back from anywhere. The data tier takes neither.
  for (const tier of ['public', 'app', 'data']) {
    for (const { where, rule, egress } of await naclRules(module, tier)) {
      if (egress || literal(module, rule.rule_action ?? rule.action) !== 'allow') continue
      if (!ANYWHERE.has(String(literal(module, rule.cidr_block ?? rule.ipv6_cidr_block)))) continue
      const ports = portsOf(module, rule)
      const tcp = TCP.has(String(literal(module, rule.protocol)))
      const listener = tier === 'public' && ports !== undefined && ports[0] === ports[1] && ALB_PUBLIC_PORTS.has(ports[0])
      const replies = tier !== 'data' && ports !== undefined && ports[0] >= 1024 && ports[1] === 65535
      if (!tcp || !(listener || replies)) v.push(`${where}: the ${tier} tier's network ACL admits ${JSON.stringify(ports ?? 'all ports')} from anywhere`)
    }
  }
  return v
}

export async function storageIsEncrypted(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  for (const db of [...findResources(module, 'aws_rds_cluster'), ...findResources(module, 'aws_db_instance')]) {
    if (literal(module, db.body.storage_encrypted) !== true) v.push(`${id(db)}: storage_encrypted must be true`)
  }
  for (const bucket of findResources(module, 'aws_s3_bucket')) {
    const configs = await resourcesReferring(module, 'aws_s3_bucket_server_side_encryption_configuration', 'bucket', bucket)
    const algorithms = configs.flatMap((c) => blocksOf(c.body, 'rule')).flatMap((r) => blocksOf(r, 'apply_server_side_encryption_by_default')).map((d) => literal(module, d.sse_algorithm))
    if (!algorithms.some((a) => a === 'AES256' || a === 'aws:kms' || a === 'aws:kms:dsse')) v.push(`${id(bucket)}: needs default server-side encryption`)
  }
  for (const lt of findResources(module, 'aws_launch_template')) {
    const volumes = blocksOf(lt.body, 'block_device_mappings').flatMap((m) => blocksOf(m, 'ebs'))
    if (volumes.length === 0) v.push(`${id(lt)}: the root volume must be declared (and encrypted)`)
    for (const ebs of volumes) if (literal(module, ebs.encrypted) !== true) v.push(`${id(lt)}: every EBS volume must be encrypted`)
  }
  for (const volume of findResources(module, 'aws_ebs_volume')) if (literal(module, volume.body.encrypted) !== true) v.push(`${id(volume)}: must be encrypted`)
  return v
}

export async function deletionProtectionIsOn(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const clusters = [...findResources(module, 'aws_rds_cluster'), ...findResources(module, 'aws_db_instance')]
  if (clusters.length === 0) v.push('no database to protect')
  for (const db of clusters) {
    if (literal(module, db.body.deletion_protection) !== true) v.push(`${id(db)}: deletion_protection must default to true`)
    if (literal(module, db.body.skip_final_snapshot ?? false) !== false) v.push(`${id(db)}: a final snapshot must be taken on deletion`)
  }
  return v
}

export async function imdsV2IsRequired(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  for (const r of [...findResources(module, 'aws_launch_template'), ...findResources(module, 'aws_instance')]) {
    const options = blocksOf(r.body, 'metadata_options')
    if (options.length === 0 || !options.every((o) => literal(module, o.http_tokens) === 'required')) v.push(`${id(r)}: metadata_options.http_tokens must be "required" (IMDSv2)`)
  }
  return v
}

/** Module hygiene: typed, described and validated variables, described outputs, pinned Terraform and provider. */
export async function moduleHygiene(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  for (const [name, body] of Object.entries(module.variables)) {
    if (!body.type) v.push(`variable "${name}": needs a type`)
    if (typeof body.description !== 'string' || body.description.length < 10) v.push(`variable "${name}": needs a description`)
    const type = String(body.type)
    const free = !/^\$\{(bool|map\(.*\)|object\(.*\))\}$/s.test(type)
    if (free && !Array.isArray(body.validation)) v.push(`variable "${name}": a ${type.replace(/^\$\{|\}$/g, '')} needs a validation block`)
  }
  for (const [name, body] of Object.entries(module.outputs)) if (typeof body.description !== 'string') v.push(`output "${name}": needs a description`)
  const required = module.terraform.flatMap((t) => blocksOf(t, 'required_providers'))
  const aws = required.map((r) => r.aws as Body | undefined).find((a) => a !== undefined)
  if (!module.terraform.some((t) => typeof t.required_version === 'string')) v.push('terraform: required_version must be set')
  if (!aws || aws.source !== 'hashicorp/aws' || !/^~> ?6\.\d+(\.\d+)?$/.test(String(aws.version))) v.push('terraform: required_providers.aws must be source "hashicorp/aws", version "~> 6.x"')
  return v
}

export const POLICIES = {
  'only the load balancer is public': onlyTheLoadBalancerIsPublic,
  'the data tier admits only the app tier': theDataTierAdmitsOnlyTheAppTier,
  'no ingress from anywhere except the load balancer': noOpenIngressExceptTheLoadBalancer,
  'storage is encrypted': storageIsEncrypted,
  'deletion protection is on': deletionProtectionIsOn,
  'IMDSv2 is required': imdsV2IsRequired,
  'module hygiene': moduleHygiene,
  'the traffic that must flow can flow': requiredTrafficFlows,
  'the release artifact is rolled out': theReleaseArtifactIsRolledOut,
  'liveness, not readiness, replaces instances': livenessNotReadinessReplaces,
  'Homestead uses its own database role over TLS': homesteadUsesItsOwnRole,
  'alarms watch the service': alarmsWatchTheService,
  'every log group has a retention': everyLogGroupHasARetention,
  'the AMI stays put between plans': theAmiStaysPut,
  'federation leaves the apex alone': federationLeavesTheApexAlone,
  'the cheaper options exist': theCheaperOptionsExist,
  'first-apply traps are closed': firstApplyTraps,
  'every derived name fits': everyDerivedNameFits,
} as const
