// Policies for what a deployment needs beyond the network's shape: the release it boots, health checks that
// do not replace instances during a database outage, Homestead's own database role over TLS, alarms and log
// retention, an AMI that stays put, federation names that leave the apex alone, the cheaper options, and the
// traps of a first apply. Each reads the parsed module statically, like the policies in policy.ts.
import { blocksOf, expressionSource, findResources, stringsIn, type Body, type Resource, type TerraformModule } from './hcl.ts'
import { id, literal, refs } from './policy.ts'

const text = (value: unknown) => JSON.stringify(value ?? null)
const one = (module: TerraformModule, type: string, name: string, mode: Resource['mode'] = 'resource') => findResources(module, type, mode).find((r) => r.name === name)
const instancePolicy = (module: TerraformModule) => one(module, 'aws_iam_policy_document', 'app', 'data')
const ignored = (r: Resource | undefined, attribute: string) =>
  blocksOf(r?.body ?? {}, 'lifecycle').some((l) => Array.isArray(l.ignore_changes) && l.ignore_changes.some((e) => String(e).replace(/^\$\{|\}$/g, '') === attribute))
const preconditions = (r: Resource | undefined) => blocksOf(r?.body ?? {}, 'lifecycle').flatMap((l) => blocksOf(l, 'precondition'))

/** Item 1: the artifact's URI, SHA-256 and version reach the user data; a new one rolls the fleet. */
export async function theReleaseArtifactIsRolledOut(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  for (const name of ['release_artifact_path', 'release_artifact_s3_uri', 'release_artifact_sha256']) if (!module.variables[name]) v.push(`variable "${name}" is missing`)
  const vars = module.locals.user_data_vars as Body | undefined
  const contract = ['release_s3_uri', 'release_sha256', 'release_version', 'region', 'config_yaml', 'db_host', 'db_port', 'db_name', 'db_master_secret_arn', 'db_app_secret_arn', 'asg_name', 'app_port']
  for (const name of contract) if (!vars || !(name in vars)) v.push(`local.user_data_vars: the template needs ${name}`)
  if (!/templatefile\(.*local\.user_data_vars/.test(text(module.locals.user_data))) v.push('local.user_data: must render the template with local.user_data_vars')
  const object = one(module, 'aws_s3_object', 'release')
  if (!object || expressionSource(object.body.source) !== 'var.release_artifact_path' || !text(object.body.metadata).includes('local.release_sha256')) v.push('aws_s3_object.release: uploads var.release_artifact_path with its sha256 as metadata')
  if (!/filesha256\(var\.release_artifact_path\)/.test(text(module.locals.release_sha256))) v.push('local.release_sha256: computed from the uploaded file')
  for (const asg of findResources(module, 'aws_autoscaling_group')) {
    if (blocksOf(asg.body, 'instance_refresh').length === 0) v.push(`${id(asg)}: needs an instance_refresh block`)
    const version = blocksOf(asg.body, 'launch_template').map((lt) => expressionSource(lt.version))
    if (!version.every((x) => x?.endsWith('.latest_version'))) v.push(`${id(asg)}: must follow the launch template's latest version`)
  }
  if (!text(instancePolicy(module)?.body).includes('local.release_object_arn')) v.push('the instance role must read the release object (local.release_object_arn)')
  return v
}

/** Item 3: readiness routes, liveness replaces. */
export async function livenessNotReadinessReplaces(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  for (const asg of findResources(module, 'aws_autoscaling_group')) {
    if (literal(module, asg.body.health_check_type) !== 'EC2') v.push(`${id(asg)}: health_check_type must be EC2 (a database outage must not replace instances)`)
    if (typeof literal(module, asg.body.health_check_grace_period) !== 'number') v.push(`${id(asg)}: needs a health_check_grace_period`)
  }
  for (const tg of findResources(module, 'aws_lb_target_group')) {
    if (!blocksOf(tg.body, 'health_check').every((h) => h.path === '/health/ready')) v.push(`${id(tg)}: the health check must be /health/ready`)
  }
  const statements = blocksOf(instancePolicy(module)?.body ?? {}, 'statement')
  const own = statements.find((s) => text(s.actions).includes('autoscaling:SetInstanceHealth'))
  if (!own || !text(own.resources).includes('local.asg_name') || text(own.resources).includes('"*"')) v.push('the instance role needs autoscaling:SetInstanceHealth on its own group only (local.asg_name)')
  return v
}

/** Item 4: Homestead's own login, TLS forced by the server, slow statements logged, IAM auth optional. */
export async function homesteadUsesItsOwnRole(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  if (module.locals.db_app_user === module.locals.db_master_user) v.push('local.db_app_user must not be the master user')
  const version = one(module, 'aws_secretsmanager_secret_version', 'db_app')
  if (!version || !/username = local\.db_app_user, password = data\.aws_secretsmanager_random_password\.\w+\.random_password/.test(text(version.body.secret_string))) v.push('aws_secretsmanager_secret_version.db_app: {username, password} with a random password')
  if (!ignored(version, 'secret_string')) v.push('aws_secretsmanager_secret_version.db_app: ignore_changes = [secret_string], or the password changes on every plan')
  const parameters = text(module.locals.db_parameters)
  if (!/name = "rds\.force_ssl", value = "1"|"name":"rds.force_ssl","value":"1"/.test(parameters)) v.push('local.db_parameters: rds.force_ssl = 1')
  if (!parameters.includes('log_min_duration_statement')) v.push('local.db_parameters: log_min_duration_statement')
  for (const [type, key] of [['aws_rds_cluster_parameter_group', 'parameter'], ['aws_db_parameter_group', 'parameter']] as const) {
    for (const group of findResources(module, type)) if (!text(group.body.dynamic).includes('local.db_parameters')) v.push(`${id(group)}: must set local.db_parameters (${key})`)
  }
  for (const [type, key] of [['aws_rds_cluster', 'db_cluster_parameter_group_name'], ['aws_db_instance', 'parameter_group_name']] as const) {
    for (const db of findResources(module, type)) {
      if (![...(await refs(db.body[key]))].some((r) => r.includes('parameter_group'))) v.push(`${id(db)}: must use the module's parameter group (${key})`)
      if (expressionSource(db.body.iam_database_authentication_enabled) !== 'var.db_iam_auth') v.push(`${id(db)}: iam_database_authentication_enabled = var.db_iam_auth`)
    }
  }
  if (!text(instancePolicy(module)?.body).includes('rds-db:connect')) v.push('the instance role needs rds-db:connect when db_iam_auth is on')
  const database = (module.locals.homestead_config as Body | undefined)?.database as Body | undefined
  if (!database || /\/\/[^@/]*:[^@/]*@/.test(String(database.url)) || !text(database.password_secret_arn).includes('aws_secretsmanager_secret.db_app')) v.push('homestead_config.database: a URL without password, and password_secret_arn = the app database secret')
  return v
}

/** Item 5: alarms to a topic with an e-mail subscription, access logs kept for a while. */
export async function alarmsWatchTheService(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const metrics = (local: string) => Object.values((module.locals[local] ?? {}) as Record<string, Body>).map((a) => a.metric)
  const want: Record<string, string[]> = {
    alarms_common: ['HTTPCode_ELB_5XX_Count', 'HTTPCode_Target_5XX_Count', 'UnHealthyHostCount', 'TargetResponseTime', 'GroupInServiceInstances'],
    alarms_aurora: ['CPUUtilization', 'ACUUtilization', 'FreeLocalStorage', 'VolumeBytesUsed', 'DatabaseConnections'],
    alarms_rds_instance: ['CPUUtilization', 'FreeStorageSpace', 'DatabaseConnections'],
  }
  for (const [local, names] of Object.entries(want)) for (const name of names) if (!metrics(local).includes(name)) v.push(`local.${local}: no alarm on ${name}`)
  const alarm = one(module, 'aws_cloudwatch_metric_alarm', 'this')
  if (!alarm || !text(alarm.body.alarm_actions).includes('aws_sns_topic.')) v.push('aws_cloudwatch_metric_alarm.this: alarm_actions must notify the SNS topic')
  const email = findResources(module, 'aws_sns_topic_subscription').find((s) => s.body.protocol === 'email' && expressionSource(s.body.endpoint) === 'var.alarm_email')
  if (!email) v.push('an e-mail subscription to var.alarm_email is missing')
  for (const asg of findResources(module, 'aws_autoscaling_group')) if (!text(asg.body.enabled_metrics).includes('GroupInServiceInstances')) v.push(`${id(asg)}: enabled_metrics must include GroupInServiceInstances`)
  for (const lb of findResources(module, 'aws_lb')) {
    const logs = blocksOf(lb.body, 'access_logs')
    const bucket = [...(await refs(logs[0]?.bucket))][0]
    if (logs.length === 0 || literal(module, logs[0]?.enabled) !== true || !bucket) v.push(`${id(lb)}: access logs must be on, to a bucket of the module`)
    const lifecycle = findResources(module, 'aws_s3_bucket_lifecycle_configuration').find((l) => text(l.body.bucket).includes(`${bucket}.`))
    if (bucket && !text(lifecycle?.body).includes('"days":"${var.')) v.push(`${bucket}: the access logs need a lifecycle expiration`)
  }
  if (!text(findResources(module, 'aws_iam_policy_document', 'data')).includes('logdelivery.elasticloadbalancing.amazonaws.com')) v.push('the access log bucket policy must let the ELB log delivery write')
  return v
}

/** Item 5: no log group without a retention, including the one RDS would create for the PostgreSQL export. */
export async function everyLogGroupHasARetention(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const groups = findResources(module, 'aws_cloudwatch_log_group')
  for (const g of groups) if (g.body.retention_in_days == null) v.push(`${id(g)}: needs retention_in_days`)
  for (const db of [...findResources(module, 'aws_rds_cluster'), ...findResources(module, 'aws_db_instance')]) {
    if (db.body.enabled_cloudwatch_logs_exports === undefined) continue
    const kind = db.type === 'aws_rds_cluster' ? 'cluster' : 'instance'
    const identifier = expressionSource(db.body.cluster_identifier ?? db.body.identifier)
    const precreated = groups.some((g) => text(g.body.name).includes(`/aws/rds/${kind}/\${${identifier}}/postgresql`) || text(module.locals[expressionSource(g.body.name)?.replace('local.', '') ?? '']).includes(`/aws/rds/${kind}/\${${identifier}}/postgresql`))
    const waits = text(db.body.depends_on).includes('aws_cloudwatch_log_group.')
    if (!precreated || !waits) v.push(`${id(db)}: its log export /aws/rds/${kind}/<id>/postgresql needs a log group created first (depends_on), with a retention`)
  }
  return v
}

/** Item 5: the fleet's AMI does not follow the SSM parameter on every plan. */
export async function theAmiStaysPut(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  for (const lt of findResources(module, 'aws_launch_template')) {
    const source = expressionSource(lt.body.image_id)
    const value = source?.startsWith('local.') ? module.locals[source.slice(6)] : lt.body.image_id
    const found = await refs(value)
    if ([...found].some((r) => r.startsWith('data.'))) v.push(`${id(lt)}: image_id must not read a data source on every plan`)
    for (const r of found) if (r.startsWith('terraform_data.') && !ignored(one(module, 'terraform_data', r.split('.')[1] ?? ''), 'input')) v.push(`${r}: ignore_changes = [input] keeps the AMI read once`)
    if (!found.has('var.ami_id')) v.push(`${id(lt)}: var.ami_id must be able to choose the AMI`)
  }
  for (const instance of findResources(module, 'aws_instance')) if (!ignored(instance, 'ami')) v.push(`${id(instance)}: ignore_changes = [ami]`)
  return v
}

/** Item 6: SRV delegation, a certificate naming the server name, the apex only when asked and never overwritten. */
export async function federationLeavesTheApexAlone(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const records = findResources(module, 'aws_route53_record')
  const srv = records.find((r) => r.body.type === 'SRV')
  if (!srv || srv.body.name !== '_matrix-fed._tcp.${var.server_name}' || text(srv.body.records) !== text(['10 5 443 ${local.client_host}.'])) v.push('a SRV record _matrix-fed._tcp.<server_name> → 10 5 443 <client host>. is missing')
  for (const cert of findResources(module, 'aws_acm_certificate')) {
    if (expressionSource(cert.body.domain_name) !== 'local.client_host' || text(cert.body.subject_alternative_names) !== text(['${var.server_name}'])) v.push(`${id(cert)}: names the client host and always the server name`)
  }
  for (const r of records) if (r.body.allow_overwrite !== undefined && r.name !== 'certificate_validation') v.push(`${id(r)}: allow_overwrite would replace an existing record`)
  const apex = records.filter((r) => r.body.name === '${var.server_name}')
  for (const r of apex) {
    if (expressionSource(r.body.count) !== 'var.serve_apex_well_known ? 1 : 0') v.push(`${id(r)}: only with serve_apex_well_known`)
    if (!preconditions(r).some((p) => text(p.condition).includes('data.aws_route53_records'))) v.push(`${id(r)}: needs a precondition that the apex holds no other A/AAAA record`)
  }
  if (module.variables.serve_apex_well_known?.default !== false) v.push('serve_apex_well_known must default to false')
  return v
}

/** Item 7: the NAT instance and the RDS PostgreSQL budget profile are options of the same module. */
export async function theCheaperOptionsExist(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  if (!text(module.variables.nat_type?.validation).includes('instance')) v.push('variable "nat_type" (gateway | instance) is missing')
  if (!text(module.variables.database_engine?.validation).includes('rds-instance')) v.push('variable "database_engine" (aurora-serverless | rds-instance) is missing')
  const user = text(module.locals.nat_user_data)
  if (!user.includes('MASQUERADE') || !user.includes('ip_forward')) v.push('local.nat_user_data: must forward and MASQUERADE')
  if (findResources(module, 'aws_instance').length === 0) v.push('no NAT instance')
  if (findResources(module, 'aws_db_instance').length === 0) v.push('no RDS PostgreSQL instance for the budget profile')
  const route = one(module, 'aws_route', 'app_nat')
  if (!route || !text(route.body.network_interface_id).includes('aws_network_interface.nat')) v.push('aws_route.app_nat: must route through the NAT instance when chosen')
  return v
}

/** Item 8: what breaks a first (or second) apply. */
export async function firstApplyTraps(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  if (!preconditions(one(module, 'aws_vpc', 'this')).some((p) => text(p.condition).includes('data.aws_availability_zones'))) v.push('aws_vpc.this: a precondition must check az_count against the region\'s zones')
  for (const db of [...findResources(module, 'aws_rds_cluster'), ...findResources(module, 'aws_db_instance')]) {
    const snapshot = text(db.body.final_snapshot_identifier) + text(module.locals[expressionSource(db.body.final_snapshot_identifier)?.replace('local.', '') ?? ''])
    if (!snapshot.includes('timestamp()') || !ignored(db, 'final_snapshot_identifier')) v.push(`${id(db)}: final_snapshot_identifier must be unique (a timestamp, kept by ignore_changes)`)
  }
  if (!/^\d+$/.test(String(module.variables.db_engine_version?.default))) v.push('db_engine_version must default to a major version only (minors are upgraded automatically)')
  for (const r of [...findResources(module, 'aws_rds_cluster_instance'), ...findResources(module, 'aws_db_instance')]) if (r.body.auto_minor_version_upgrade !== true) v.push(`${id(r)}: auto_minor_version_upgrade = true`)
  if (module.variables.media_versioning?.default !== true) v.push('media_versioning must default to true')
  return v
}

/** The longest each name AWS accepts, for a name or a name_prefix (to which Terraform appends 26 characters). */
const NAME_LIMITS: Record<string, number> = {
  'aws_s3_bucket.bucket_prefix': 37,
  'aws_lb.name': 32,
  'aws_lb_target_group.name_prefix': 6,
  'aws_iam_role.name_prefix': 38,
  'aws_iam_role_policy.name_prefix': 102,
  'aws_iam_instance_profile.name_prefix': 102,
  'aws_launch_template.name_prefix': 99,
  'aws_autoscaling_group.name': 255,
  'aws_autoscaling_policy.name': 255,
  'aws_security_group.name_prefix': 229,
  'aws_db_subnet_group.name_prefix': 229,
  'aws_rds_cluster_parameter_group.name_prefix': 229,
  'aws_db_parameter_group.name_prefix': 229,
  'aws_rds_cluster.cluster_identifier': 63,
  'aws_rds_cluster.final_snapshot_identifier': 255,
  'aws_rds_cluster_instance.identifier': 63,
  'aws_db_instance.identifier': 63,
  'aws_db_instance.final_snapshot_identifier': 255,
  'aws_secretsmanager_secret.name_prefix': 486,
  'aws_sns_topic.name': 256,
  'aws_cloudwatch_metric_alarm.alarm_name': 255,
  'aws_cloudwatch_log_group.name': 512,
}
const NAME_KEYS = ['name', 'name_prefix', 'bucket_prefix', 'identifier', 'cluster_identifier', 'alarm_name', 'final_snapshot_identifier']

/** Item 8: the longest name var.name accepts yields derived names AWS accepts, every one of them. */
export async function everyDerivedNameFits(module: TerraformModule): Promise<string[]> {
  const v: string[] = []
  const condition = text(blocksOf(module.variables.name ?? {}, 'validation').map((b) => b.condition))
  const pattern = /regex\(\\"(.+?)\\", var\.name\)/.exec(condition)?.[1]?.replaceAll('\\\\', '\\')
  if (!pattern || !condition.includes('strcontains(var.name, \\"--\\")')) return ['variable "name": the validation must bound its length with a regex and refuse "--" (RDS identifiers)']
  const accepts = (n: number) => new RegExp(pattern).test('a'.repeat(n))
  let longest = 0
  for (let n = 1; n <= 255; n++) if (accepts(n)) longest = n
  const sample = 'a'.repeat(longest)
  const expand = (value: string, depth = 0): string =>
    value.replace(/\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}/g, (_, source: string) => {
      const expression = source.trim()
      if (expression === 'var.name') return sample
      const local = /^local\.(\w+)$/.exec(expression)?.[1]
      if (local && typeof module.locals[local] === 'string' && depth < 5) return expand(module.locals[local] as string, depth + 1)
      if (/count\.index/.test(expression)) return '15'
      return 'x'.repeat(24) // each.key, a timestamp, an availability zone: generously long
    })
  for (const r of module.resources) {
    if (r.mode !== 'resource') continue
    for (const key of NAME_KEYS) {
      const value = r.body[key]
      if (typeof value !== 'string') continue
      const name = expand(value)
      if (!name.includes(sample)) continue
      const limit = NAME_LIMITS[`${r.type}.${key}`]
      if (limit === undefined) v.push(`${id(r)}.${key}: no known length limit for ${r.type}.${key} (add it to NAME_LIMITS)`)
      else if (name.length > limit) v.push(`${id(r)}.${key}: ${JSON.stringify(value)} is ${name.length} characters for a ${longest}-character name; AWS accepts ${limit}`)
    }
  }
  for (const [text_] of stringsIn(module.resources.map((r) => r.body))) if (text_.includes('substr(var.name')) v.push(`a truncated name (${text_}) may collide with another deployment's`)
  return v
}
