// OpenGraph extraction for URL previews: what is taken from a page, and the budgets (bytes, parse time,
// element depth) that bound the work on hostile HTML.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseOpenGraph, parseOpenGraphText } from '../../src/media/open-graph.ts'

const BUDGET = { maxBytes: 1024 * 1024, maxParseMs: 10_000 }
const BASE = 'https://example.com/a/page'

describe('parseOpenGraph', () => {
  it('takes og: properties first, with entities decoded and relative images resolved', async () => {
    const og = await parseOpenGraphText(
      `<html><head><title>Fallback</title><META Property="OG:Title" content="Tom &amp; Jerry">
       <meta property="og:image" content="../img.png"><meta property="og:title" content="second"></head></html>`,
      BASE,
      BUDGET,
    )
    assert.deepEqual(og, { 'og:title': 'Tom & Jerry', 'og:image': 'https://example.com/img.png' })
  })

  it('falls back to <title>, the meta description and the first <img>, ignoring an SVG title', async () => {
    const og = await parseOpenGraphText(
      `<html><head><meta name="description" content=" About "><svg><title>icon</title></svg>
       <title>  A   page\n title </title></head><body><p><img alt="x"><img src="/pic.jpg"></p></body></html>`,
      BASE,
      BUDGET,
    )
    assert.deepEqual(og, { 'og:title': 'A page title', 'og:description': 'About', 'og:image': 'https://example.com/pic.jpg' })
  })

  it('decodes a page in the charset its Content-Type names, also across pieces', async () => {
    const bytes = Buffer.from('<title>caf\xe9 cr\xe8me</title>', 'latin1')
    const og = await parseOpenGraph([bytes.subarray(0, 12), bytes.subarray(12)], BASE, 'text/html; charset=ISO-8859-1', BUDGET)
    assert.equal(og['og:title'], 'café crème')
    const utf8 = Buffer.from('<title>café</title>')
    const split = await parseOpenGraph([utf8.subarray(0, 11), utf8.subarray(11)], BASE, 'text/html', BUDGET)
    assert.equal(split['og:title'], 'café', 'a character split between two chunks')
  })

  it('stops at the byte budget and keeps what it found before', async () => {
    const html = `<head><meta property="og:title" content="Kept">${' '.repeat(5000)}<meta property="og:description" content="Past the budget">`
    assert.deepEqual(await parseOpenGraphText(html, BASE, { ...BUDGET, maxBytes: 2000 }), { 'og:title': 'Kept' })
  })

  it('stops at the time budget', async () => {
    // Parsing the whole page takes far more than the 1 ms allowed, so the description at its end is never reached.
    const html = `<head><meta property="og:title" content="Kept">${'<meta name="x" content="y">'.repeat(100_000)}<meta name="description" content="late">`
    assert.deepEqual(await parseOpenGraphText(html, BASE, { ...BUDGET, maxBytes: 10 * 1024 * 1024, maxParseMs: 1 }), { 'og:title': 'Kept' })
  })

  it('stops at a nesting depth a real page never reaches, keeping what came before', async () => {
    const html = `<html><head><title>Deep</title></head><body>${'<div>'.repeat(200_000)}<img src="/never.png">`
    assert.deepEqual(await parseOpenGraphText(html, BASE, { ...BUDGET, maxBytes: 2 * 1024 * 1024 }), { 'og:title': 'Deep' })
  })

  it('clips long values and titles to 1,000 characters', async () => {
    const og = await parseOpenGraphText(`<meta property="og:title" content="${'a'.repeat(5000)}"><title>${'b '.repeat(5000)}</title>`, BASE, BUDGET)
    assert.equal(String(og['og:title']).length, 1000)
    const titled = await parseOpenGraphText(`<title>${'b '.repeat(5000)}`, BASE, BUDGET)
    assert.equal(String(titled['og:title']).length, 1000, 'an unclosed title ends with the page')
  })
})
