// The cost of deploy/aws as its README states it ("What it costs") and as the top-level README repeats it must
// be what test/deploy/support/cost.ts computes from the unit prices: the tables, every dollar figure in the
// sentences around them, and the three totals.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BEGIN, END, lines, PROFILES, proseFigures, renderTables, replaceTables, total, totalCents, type Profile } from './support/cost.ts'
import { MODULE_DIR } from './support/fixtures.ts'

const moduleReadme = readFileSync(join(MODULE_DIR, 'README.md'), 'utf8')
const topReadme = readFileSync(join(MODULE_DIR, '..', '..', 'README.md'), 'utf8')
const profiles = Object.keys(PROFILES) as Profile[]

/** The "What it costs" section without its generated block and its list of sources. */
function prose(readme: string): string {
  const section = readme.slice(readme.indexOf('## What it costs'))
  const withoutTables = section.slice(0, section.indexOf(BEGIN)) + section.slice(section.indexOf(END) + END.length)
  return withoutTables.slice(0, withoutTables.indexOf('### Sources'))
}

describe('deploy/aws cost', () => {
  it('shows in deploy/aws/README.md exactly the tables computed from the unit prices', () => {
    assert.ok(moduleReadme.includes('## What it costs'), 'deploy/aws/README.md has no "What it costs" section')
    const block = moduleReadme.slice(moduleReadme.indexOf(BEGIN), moduleReadme.indexOf(END) + END.length)
    assert.equal(block, renderTables(), 'the cost tables differ from `node scripts/cost.ts`: run it with --write')
    assert.equal(replaceTables(moduleReadme), moduleReadme)
  })

  it('adds each table\'s line items up to its total', () => {
    for (const profile of profiles) {
      const sum = lines(profile).reduce((cents, line) => cents + line.cents, 0)
      assert.equal(sum, totalCents(profile), profile)
      assert.ok(lines(profile).every((line) => Number.isInteger(line.cents) && line.cents >= 0), profile)
    }
    assert.ok(totalCents('budget') < totalCents('nat-instance') && totalCents('nat-instance') < totalCents('default'))
  })

  it('cites a source for every unit price in the tables', () => {
    const cited = new Set([...moduleReadme.matchAll(/^\[\^([\w-]+)\]:/gm)].map((m) => m[1]))
    for (const profile of profiles) {
      for (const line of lines(profile)) {
        for (const [, note] of line.rate.matchAll(/\[\^([\w-]+)\]/g)) assert.ok(cited.has(note), `${line.item}: no footnote [^${note}]`)
        assert.ok(line.rate === 'free' || /\[\^[\w-]+\]$/.test(line.rate), `${line.item}: its price names no source`)
      }
    }
  })

  it('states in its sentences only dollar figures that follow from the prices and usage', () => {
    const allowed = proseFigures()
    const text = prose(moduleReadme)
    const figures = [...text.matchAll(/\$(\d[\d,]*(?:\.\d+)?)/g)].map((m) => Number(m[1]!.replaceAll(',', '')))
    assert.ok(figures.length > 5, 'the section states no figures: was it moved?')
    for (const figure of figures) assert.ok(allowed.some((a) => Math.abs(a - figure) < 1e-9), `$${figure} in "What it costs" follows from no price or usage in test/deploy/support/cost.ts`)
  })

  it('repeats the three totals in the top-level README', () => {
    const deploying = topReadme.slice(topReadme.indexOf('## Deploying'), topReadme.indexOf('## Development'))
    for (const profile of profiles) assert.ok(deploying.includes(total(profile)), `README.md's "Deploying" lacks ${profile}'s total ${total(profile)}`)
  })
})
