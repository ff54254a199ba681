// locals.homestead_config of deploy/aws/compute.tf as Terraform would write it on an instance: the small
// subset of HCL that configuration uses, evaluated here so the offline tests (config.test.ts) and the boot
// rehearsal read the module's own configuration rather than a copy of it. Anything beyond that subset stays
// "<unresolved …>" for the caller to supply or refuse.
import { expressionSource, loadModule, type TerraformModule } from './hcl.ts'
import { MODULE_DIR } from './fixtures.ts'

export interface ConfigInputs {
  /** Values of variables (by name), over their defaults. */
  vars?: Record<string, unknown>
  /** Values of what only AWS knows, keyed by the reference as written (e.g. "aws_s3_bucket.media.id"). */
  aws?: Record<string, unknown>
}

/** Evaluates the configuration of an already loaded module. */
export function evaluateConfig(module: TerraformModule, inputs: ConfigInputs = {}): Record<string, any> {
  const vars = inputs.vars ?? {}
  const aws = inputs.aws ?? {}
  const resolve = (source: string): unknown => {
    if (source in aws) return aws[source]
    const variable = /^var\.(\w+)$/.exec(source)?.[1]
    if (variable && variable in vars) return vars[variable]
    if (variable && module.variables[variable] && 'default' in module.variables[variable]) return evaluate(module.variables[variable].default)
    const local = /^local\.(\w+)$/.exec(source)?.[1]
    if (local && local in module.locals) return evaluate(module.locals[local])
    // `var.a == null ? null : var.b * N`
    const nullable = /^(var\.\w+) == null \? null : (var\.\w+) \* (\d+)$/.exec(source)
    if (nullable) {
      const value = resolve(nullable[1] as string)
      return value === null ? null : Number(resolve(nullable[2] as string)) * Number(nullable[3])
    }
    // `var.flag ? null : reference`
    const unless = /^(var\.\w+) \? null : (\S+)$/.exec(source)
    if (unless) return resolve(unless[1] as string) ? null : resolve(unless[2] as string)
    // `(var.a + N) * M`
    const arithmetic = /^\((var\.\w+) \+ (\d+)\) \* (\d+)$/.exec(source)
    if (arithmetic) return (Number(resolve(arithmetic[1] as string)) + Number(arithmetic[2])) * Number(arithmetic[3])
    return `<unresolved ${source}>`
  }
  const evaluate = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(evaluate)
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v)]))
    if (typeof value !== 'string' || !value.includes('${')) return value
    const whole = expressionSource(value)
    if (whole !== undefined) return resolve(whole)
    return value.replace(/\$\{([^}]+)\}/g, (_, source: string) => String(resolve(source.trim())))
  }
  return evaluate(module.locals.homestead_config) as Record<string, any>
}

/** Loads deploy/aws and evaluates its configuration. */
export async function moduleConfig(inputs: ConfigInputs = {}): Promise<Record<string, any>> {
  return evaluateConfig(await loadModule(MODULE_DIR), inputs)
}
