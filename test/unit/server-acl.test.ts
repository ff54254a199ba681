// Server ACLs (the m.room.server_acl schema's rules, starting from the spec's example event), as
// compileServerAcl and serverAllowedByAcl apply them.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compileServerAcl, serverAllowedByAcl as allowedBy } from '../../src/protocol/server-acl.ts'

/** Whether a room whose m.room.server_acl has this content (null: none) lets the server in. */
const serverAllowedByAcl = (serverName: string, content: unknown) => allowedBy(serverName, content === null || content === undefined ? null : compileServerAcl(content))

// The spec's example m.room.server_acl content.
const EXAMPLE = { allow_ip_literals: false, allow: ['*'], deny: ['*.evil.com', 'evil.com'] }

describe('serverAllowedByAcl', () => {
  it("applies the spec's example: evil.com and its subdomains denied, IP literals denied, the rest allowed", () => {
    for (const name of ['evil.com', 'evil.com:8448', 'evil.com:1234', 'matrix.evil.com', 'a.b.evil.com:443', 'EVIL.COM', 'Sub.Evil.Com']) {
      assert.equal(serverAllowedByAcl(name, EXAMPLE), false, name)
    }
    for (const name of ['1.2.3.4', '1.2.3.4:8448', '[::1]', '[1234:5678::abcd]:5678']) assert.equal(serverAllowedByAcl(name, EXAMPLE), false, name)
    for (const name of ['matrix.org', 'notevil.com', 'evil.com.example.org', 'example.org:8448']) assert.equal(serverAllowedByAcl(name, EXAMPLE), true, name)
  })

  it('allows every server when the room has no ACL', () => {
    assert.equal(serverAllowedByAcl('evil.com', null), true)
    assert.equal(serverAllowedByAcl('1.2.3.4', undefined), true)
  })

  it('denies every server when allow is missing, empty or not a list', () => {
    for (const content of [{}, { allow: [] }, { allow: '*' }, { deny: ['evil.com'] }, 'not an object', []]) {
      assert.equal(serverAllowedByAcl('matrix.org', content), false, JSON.stringify(content))
    }
  })

  it('lets deny win over allow', () => {
    assert.equal(serverAllowedByAcl('matrix.org', { allow: ['matrix.org'], deny: ['matrix.org'] }), false)
    assert.equal(serverAllowedByAcl('matrix.org', { allow: ['*'], deny: ['m?trix.*'] }), false)
  })

  it('matches * and ? case-insensitively against the host without the port', () => {
    const acl = { allow: ['*.Example.ORG', 'h?st.net', 'exact.io'] }
    assert.equal(serverAllowedByAcl('chat.example.org:8448', acl), true)
    assert.equal(serverAllowedByAcl('example.org', acl), false, 'the dot before the subdomain is part of the pattern')
    assert.equal(serverAllowedByAcl('HOST.net', acl), true)
    assert.equal(serverAllowedByAcl('hoost.net', acl), false, '? is exactly one character')
    assert.equal(serverAllowedByAcl('exact.io:1', acl), true)
    assert.equal(serverAllowedByAcl('exact.io.evil', acl), false, 'a pattern matches the whole host')
    assert.equal(serverAllowedByAcl('exact.io', { allow: ['exact.io:*'] }), false, 'ports are not part of what is matched')
  })

  it('allows IP literals unless allow_ip_literals is exactly false, and matches them as written', () => {
    assert.equal(serverAllowedByAcl('1.2.3.4', { allow: ['*'] }), true)
    assert.equal(serverAllowedByAcl('1.2.3.4', { allow: ['*'], allow_ip_literals: 'false' }), true, 'a non-boolean counts as true')
    assert.equal(serverAllowedByAcl('1.2.3.4:8448', { allow: ['1.2.3.*'] }), true)
    assert.equal(serverAllowedByAcl('[::1]:8448', { allow: ['[::1]'] }), true)
    assert.equal(serverAllowedByAcl('[::1]', { allow: ['*'], allow_ip_literals: false }), false)
  })

  it('ignores entries that are not strings, and refuses what is not a server name', () => {
    assert.equal(serverAllowedByAcl('matrix.org', { allow: [1, null, { x: 1 }, 'matrix.org'] }), true)
    assert.equal(serverAllowedByAcl('matrix.org', { allow: ['*'], deny: [42, 'other.org'] }), true)
    assert.equal(serverAllowedByAcl('not a name', { allow: ['*'] }), false)
  })

  it('matches hostile patterns in linear time', () => {
    const pattern = `${'*a'.repeat(2000)}b`
    const host = `${'a'.repeat(250)}.org`
    assert.equal(serverAllowedByAcl(host, { allow: [pattern] }), false)
    assert.equal(serverAllowedByAcl(host, { allow: ['*'], deny: [pattern, pattern, pattern] }), true)
  })
})
