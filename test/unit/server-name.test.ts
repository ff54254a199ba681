// Server-name grammar (appendices, "Server Name"), starting from the spec's own examples.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseServerName } from '../../src/protocol/server-name.ts'

describe('parseServerName', () => {
  it("accepts the spec's examples, with the kind of hostname and the port", () => {
    const cases: Array<[string, string, string, number | null]> = [
      ['matrix.org', 'dns', 'matrix.org', null],
      ['matrix.org:8888', 'dns', 'matrix.org', 8888],
      ['1.2.3.4', 'ipv4', '1.2.3.4', null],
      ['1.2.3.4:1234', 'ipv4', '1.2.3.4', 1234],
      ['[1234:5678::abcd]', 'ipv6', '1234:5678::abcd', null],
      ['[1234:5678::abcd]:5678', 'ipv6', '1234:5678::abcd', 5678],
    ]
    for (const [name, kind, host, port] of cases) {
      const parsed = parseServerName(name)
      assert.ok(parsed, name)
      assert.deepEqual([parsed.kind, parsed.host, parsed.port, parsed.name], [kind, host, port, name], name)
    }
    assert.equal(parseServerName('[1234:5678::abcd]:5678')?.hostForUrl, '[1234:5678::abcd]')
  })

  it('accepts other forms the grammar allows', () => {
    for (const name of ['localhost', 'a', 'my-server.example.com:443', '[::1]', '[::ffff:127.0.0.1]:8448', 'MATRIX.ORG', 'x.y:1', 'example.com:65535']) {
      assert.ok(parseServerName(name), name)
    }
  })

  it('refuses what the grammar does not allow', () => {
    const bad = [
      '', ':8448', 'matrix.org:', 'matrix.org:port', 'matrix.org:123456', 'matrix.org:65536', 'ma_trix.org', 'matrix.org/path',
      'user@matrix.org', 'matrix .org', '1234:5678::abcd', '[1234:5678::abcd', '[1234:5678::abcd]x', '[not:an:ip:g]', '[]', '[1.2.3.4]',
      '999.1.1.1', '256.0.0.1:80', 'a'.repeat(256), 'matrix.org:80:80', '[::1]:', 'exämple.org',
    ]
    for (const name of bad) assert.equal(parseServerName(name), null, name)
  })

  it('keeps the name as given (server names are case-sensitive)', () => {
    assert.equal(parseServerName('Matrix.Org')?.name, 'Matrix.Org')
    assert.equal(parseServerName('Matrix.Org')?.host, 'Matrix.Org')
  })
})
