// What deploy/aws costs a family a month: the on-demand unit prices (us-east-1), the usage assumed, and the
// three tables of deploy/aws/README.md ("What it costs") rendered from them, so that no line item, total or
// README pointer can drift from the arithmetic. scripts/cost.ts prints the tables or rewrites the README's
// block; test/deploy/cost.test.ts holds both READMEs to this file.

export const HOURS_PER_MONTH = 730

/** A unit price in USD, us-east-1, on demand; `source` names the footnote in the README that cites it. */
interface Price {
  usd: number
  per: string
  source: string
}

const price = (usd: number, per: string, source: string): Price => ({ usd, per, source })

/** Every price the tables use. Change one here, then run `node scripts/cost.ts --write`. */
export const PRICES = {
  t4gSmall: price(0.0168, 'h', 'ec2'),
  t4gNano: price(0.0042, 'h', 'ec2'),
  gp3: price(0.08, 'GB-month', 'ebs'),
  auroraAcu: price(0.12, 'ACU-h', 'aurora'),
  auroraStorage: price(0.10, 'GB-month', 'aurora'),
  auroraIo: price(0.20, 'million requests', 'aurora'),
  auroraIoOptimizedAcu: price(0.156, 'ACU-h', 'aurora'),
  auroraIoOptimizedStorage: price(0.225, 'GB-month', 'aurora'),
  rdsT4gMicro: price(0.016, 'h', 'rds'),
  rdsGp3: price(0.115, 'GB-month', 'rds'),
  /** The next size up, for a server that outgrows the budget profile (named in the README, not in a table). */
  rdsT4gSmall: price(0.032, 'h', 'rds'),
  alb: price(0.0225, 'h', 'elb'),
  albLcu: price(0.008, 'LCU-h', 'elb'),
  natGateway: price(0.045, 'h', 'nat'),
  natGatewayData: price(0.045, 'GB', 'nat'),
  publicIpv4: price(0.005, 'h', 'ipv4'),
  secret: price(0.40, 'secret-month', 'secrets'),
  secretCalls: price(0.05, '10,000 calls', 'secrets'),
  logsIngested: price(0.50, 'GB', 'cloudwatch'),
  logsStored: price(0.03, 'GB-month', 'cloudwatch'),
  alarm: price(0.10, 'alarm-month', 'cloudwatch'),
  hostedZone: price(0.50, 'zone-month', 'route53'),
  s3Standard: price(0.023, 'GB-month', 's3'),
  s3Put: price(0.005, '1,000 PUT', 's3'),
  s3Get: price(0.0004, '1,000 GET', 's3'),
  crossZone: price(0.01, 'GB', 'transfer'),
  /** Beyond the first 100 GB a month, which are free. */
  internetOut: price(0.09, 'GB', 'transfer'),
} as const satisfies Record<string, Price>

/** What a family of about ten people uses in a month; the README's "Assumptions" explains each figure. */
export const USAGE = {
  rootVolumeGb: 20,
  natInstanceVolumeGb: 8,
  auroraAcu: 0.5,
  auroraStorageGb: 5,
  auroraIoMillions: 10,
  rdsStorageGb: 20,
  albLcuAverage: 0.1,
  natGb: 10,
  /** The load balancer's two zones and the NAT gateway or instance. */
  publicIpv4: 3,
  secrets: 2,
  secretCalls: 2000,
  logsGb: 1,
  /** monitoring.tf: 5 for the load balancer and the group, plus the 2 the CPU target-tracking policy makes… */
  alarmsCommon: 7,
  /** … and 5 for Aurora or 3 for RDS, and 1 per NAT instance. */
  alarmsAurora: 5,
  alarmsRds: 3,
  alarmsNatInstance: 1,
  /** CloudWatch's always-free tier. */
  freeAlarms: 10,
  s3Gb: 11,
  s3PutThousands: 20,
  s3GetThousands: 100,
  crossZoneGb: 20,
} as const

const H = HOURS_PER_MONTH
const P = PRICES
const U = USAGE

export interface Line {
  item: string
  quantity: string
  rate: string
  /** Whole cents, so that the lines add up to the total exactly as printed. */
  cents: number
}

export type Profile = 'default' | 'nat-instance' | 'budget'

export const PROFILES: Record<Profile, string> = {
  default: 'Default architecture at its smallest: one t4g.small, Aurora Serverless v2 at 0.5 ACU, ALB, NAT gateway',
  'nat-instance': 'The same with the NAT instance (`nat_type = "instance"`) instead of the NAT gateway',
  budget: 'Budget profile: RDS PostgreSQL db.t4g.micro Single-AZ (`database_engine = "rds-instance"`) and the NAT instance',
}

const alarms = (profile: Profile) => U.alarmsCommon + (profile === 'budget' ? U.alarmsRds : U.alarmsAurora) + (profile === 'default' ? 0 : U.alarmsNatInstance)

/** Rounds to whole cents without binary-fraction surprises (0.0225 × 730 is 16.425, not 16.4249…). */
const cents = (usd: number) => Math.round(Number((usd * 100).toPrecision(12)))

/** A unit price as AWS lists it: at least two decimals, and every further one it has ($0.0168, $0.10). */
const money = (usd: number) => `$${Number.isInteger(usd * 100) ? usd.toFixed(2) : String(usd)}`
const rate = (...prices: Price[]) => prices.map((p) => `${money(p.usd)}/${p.per}`).join(' + ') + `[^${prices[0]!.source}]`

function line(item: string, quantity: string, rates: Price[], usd: number): Line {
  return { item, quantity, rate: rate(...rates), cents: cents(usd) }
}

export function lines(profile: Profile): Line[] {
  const nat = profile === 'default'
    ? [
        line('NAT gateway', `1, ${H} h`, [P.natGateway], P.natGateway.usd * H),
        line('NAT gateway data', `${U.natGb} GB processed`, [P.natGatewayData], P.natGatewayData.usd * U.natGb),
      ]
    : [
        line('NAT instance', `1 × t4g.nano, ${H} h; no per-GB charge`, [P.t4gNano], P.t4gNano.usd * H),
        line('NAT instance disk', `${U.natInstanceVolumeGb} GB gp3`, [P.gp3], P.gp3.usd * U.natInstanceVolumeGb),
      ]
  const database = profile === 'budget'
    ? [
        line('RDS PostgreSQL', `db.t4g.micro (2 vCPU, 1 GiB), Single-AZ, ${H} h`, [P.rdsT4gMicro], P.rdsT4gMicro.usd * H),
        line('RDS storage', `${U.rdsStorageGb} GB gp3 (the minimum; it grows by itself when full); backups up to that size free`, [P.rdsGp3], P.rdsGp3.usd * U.rdsStorageGb),
      ]
    : [
        line('Aurora Serverless v2 capacity', `${U.auroraAcu} ACU × ${H} h (its floor: it never pauses)`, [P.auroraAcu], P.auroraAcu.usd * U.auroraAcu * H),
        line('Aurora storage', `${U.auroraStorageGb} GB (Aurora Standard); backups up to that size free`, [P.auroraStorage], P.auroraStorage.usd * U.auroraStorageGb),
        line('Aurora I/O', `${U.auroraIoMillions} million requests`, [P.auroraIo], P.auroraIo.usd * U.auroraIoMillions),
      ]
  return [
    line('EC2 Homestead instance', `1 × t4g.small (2 vCPU, 2 GiB, arm64), ${H} h`, [P.t4gSmall], P.t4gSmall.usd * H),
    line('EBS root volume', `${U.rootVolumeGb} GB gp3`, [P.gp3], P.gp3.usd * U.rootVolumeGb),
    ...database,
    line('Application Load Balancer', `${H} h`, [P.alb], P.alb.usd * H),
    line('ALB capacity units', `${U.albLcuAverage} LCU on average × ${H} h`, [P.albLcu], P.albLcu.usd * U.albLcuAverage * H),
    ...nat,
    line('Public IPv4 addresses', `${U.publicIpv4} (ALB in 2 zones, NAT) × ${H} h`, [P.publicIpv4], P.publicIpv4.usd * U.publicIpv4 * H),
    line('Secrets Manager', `${U.secrets} secrets (database master, Homestead's database role) + ${U.secretCalls.toLocaleString('en-US')} calls`, [P.secret, P.secretCalls],
      P.secret.usd * U.secrets + P.secretCalls.usd * U.secretCalls / 10000),
    line('CloudWatch Logs', `${U.logsGb} GB ingested, ${U.logsGb} GB kept`, [P.logsIngested, P.logsStored], (P.logsIngested.usd + P.logsStored.usd) * U.logsGb),
    line('CloudWatch alarms', `${alarms(profile)} standard alarms`, [P.alarm], P.alarm.usd * alarms(profile)),
    line('Route 53', '1 hosted zone; alias queries free', [P.hostedZone], P.hostedZone.usd),
    line('S3', `${U.s3Gb} GB Standard, ${U.s3PutThousands}k PUT, ${U.s3GetThousands}k GET`, [P.s3Standard, P.s3Put, P.s3Get],
      P.s3Standard.usd * U.s3Gb + P.s3Put.usd * U.s3PutThousands + P.s3Get.usd * U.s3GetThousands),
    line('Data transfer', `under 100 GB out to the internet (free), ${U.crossZoneGb} GB between zones`, [P.crossZone], P.crossZone.usd * U.crossZoneGb),
    { item: 'ACM, SNS e-mail, SSM, S3 endpoint, AWS-managed KMS keys', quantity: 'within their free allowances', rate: 'free', cents: 0 },
  ]
}

export const totalCents = (profile: Profile) => lines(profile).reduce((sum, l) => sum + l.cents, 0)

/** "$124.85" */
export const total = (profile: Profile) => `$${(totalCents(profile) / 100).toFixed(2)}`

export const BEGIN = '<!-- cost-tables:begin: generated by `node scripts/cost.ts --write` from test/deploy/support/cost.ts; edit there -->'
export const END = '<!-- cost-tables:end -->'

/** What each step towards surviving an instance or zone failure adds to a month (USD cents). */
export function resilienceSteps(): { change: string, cents: number }[] {
  const instance = cents(P.t4gSmall.usd * H) + cents(P.gp3.usd * U.rootVolumeGb)
  const natGateway = cents(P.natGateway.usd * H) + cents(P.publicIpv4.usd * H)
  const natInstance = cents(P.t4gNano.usd * H) + cents(P.gp3.usd * U.natInstanceVolumeGb) + cents(P.publicIpv4.usd * H)
  return [
    { change: '`min_size = 2`: a second Homestead instance, in the other zone', cents: instance },
    { change: '`nat_gateway_per_az = true`: a NAT gateway and its address in each further zone (plus $0.045/GB)', cents: natGateway },
    { change: 'The same with the NAT instance: a NAT instance, its disk and its address in each further zone', cents: natInstance },
    { change: '`db_instance_count = 2`: an Aurora reader in another zone that takes over on failure, at 0.5 ACU', cents: cents(P.auroraAcu.usd * U.auroraAcu * H) },
    { change: '`db_multi_az = true` in the budget profile: a standby in another zone and its storage', cents: cents(P.rdsT4gMicro.usd * H) + cents(P.rdsGp3.usd * U.rdsStorageGb) },
  ]
}

/** Aurora I/O-Optimized against Standard for (a)'s database: its monthly cost and the I/O volume above which it is cheaper. */
export function ioOptimized(): { cents: number, standardCents: number, breakEvenMillions: number } {
  const optimized = cents(P.auroraIoOptimizedAcu.usd * U.auroraAcu * H) + cents(P.auroraIoOptimizedStorage.usd * U.auroraStorageGb)
  const standard = lines('default').filter((l) => l.item.startsWith('Aurora')).reduce((sum, l) => sum + l.cents, 0)
  const standardWithoutIo = standard - cents(P.auroraIo.usd * U.auroraIoMillions)
  return { cents: optimized, standardCents: standard, breakEvenMillions: Math.ceil((optimized - standardWithoutIo) / (P.auroraIo.usd * 100)) }
}

const usd = (c: number) => (c / 100).toFixed(2)
const letter = (profile: Profile) => `(${'abc'[Object.keys(PROFILES).indexOf(profile)]})`

/** The block of deploy/aws/README.md between BEGIN and END (markers included). */
export function renderTables(): string {
  const profiles = Object.keys(PROFILES) as Profile[]
  const out = [BEGIN, '', '| | Architecture | USD / month |', '|---|---|--:|']
  for (const profile of profiles) out.push(`| ${letter(profile)} | ${PROFILES[profile]} | **${usd(totalCents(profile))}** |`)
  for (const profile of profiles) {
    out.push('', `**${letter(profile)} ${PROFILES[profile]}: ${total(profile)} a month**`, '')
    out.push('| Item | Quantity | Unit price | USD / month |', '|---|---|---|--:|')
    for (const l of lines(profile)) out.push(`| ${l.item} | ${l.quantity} | ${l.rate} | ${usd(l.cents)} |`)
    out.push(`| **Total** | | | **${usd(totalCents(profile))}** |`)
  }
  const io = ioOptimized()
  out.push('', `Aurora I/O-Optimized instead of Standard bills ${rate(P.auroraIoOptimizedAcu, P.auroraIoOptimizedStorage)} and no I/O: `
    + `$${usd(io.cents)} instead of $${usd(io.standardCents)} for (a)'s database, cheaper only above about ${io.breakEvenMillions} million I/O requests a month.`)
  out.push('', '**What surviving more failures adds**', '', '| Change | USD / month more |', '|---|--:|')
  for (const step of resilienceSteps()) out.push(`| ${step.change} | +${usd(step.cents)} |`)
  out.push('', END)
  return out.join('\n')
}

/**
 * Every dollar figure the README's prose around the tables may state: the unit prices and what follows from
 * them and the usage. The test refuses any other, so a changed price cannot leave a stale sum in a sentence.
 */
export function proseFigures(): number[] {
  const prices = Object.values(P).map((p) => p.usd)
  const budget = lines('budget')
  const albAndAddresses = budget.filter((l) => l.item.startsWith('Application') || l.item.startsWith('ALB')).reduce((sum, l) => sum + l.cents, 0)
    + cents(P.publicIpv4.usd * 2 * H)
  const alwaysFree = cents(P.alarm.usd * Math.min(alarms('default'), U.freeAlarms)) + cents((P.logsIngested.usd + P.logsStored.usd) * U.logsGb)
  return [
    ...prices,
    cents(P.auroraAcu.usd * U.auroraAcu) / 100, // a further 0.5 ACU for an hour
    cents(P.auroraAcu.usd * U.auroraAcu * H) / 100, // … for the month
    cents(P.auroraIo.usd * U.auroraIoMillions) / 100, // a further 10 million I/O requests
    alwaysFree / 100, // what CloudWatch's always-free tier takes off
    cents((P.rdsT4gSmall.usd - P.rdsT4gMicro.usd) * H) / 100, // db.t4g.small instead of micro
    Math.round(albAndAddresses / 100), // "about $24": the load balancer and its two addresses
    Math.floor(totalCents('budget') / 1000) * 10, // "below about $60"
  ]
}

/** Replaces the block in a README's text; throws when the markers are missing. */
export function replaceTables(readme: string): string {
  const start = readme.indexOf(BEGIN)
  const end = readme.indexOf(END)
  if (start < 0 || end < start) throw new Error('deploy/aws/README.md has no cost-tables markers')
  return readme.slice(0, start) + renderTables() + readme.slice(end + END.length)
}
