// mxc:// URIs (client-server API, "Matrix Content (mxc://) URIs"): mxc://<server-name>/<media-id>, the media
// ID made of A-Z, a-z, 0-9, _ and -.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseMxc } from '../../src/shared/ids.ts'

describe('parseMxc', () => {
  it('splits a URI into server name and media ID, with ports and IP literals in the server name', () => {
    assert.deepEqual(parseMxc('mxc://example.org/SEsfnsuifSDFSSEF'), { serverName: 'example.org', mediaId: 'SEsfnsuifSDFSSEF' })
    assert.deepEqual(parseMxc('mxc://example.org:8448/a_b-C'), { serverName: 'example.org:8448', mediaId: 'a_b-C' })
    assert.deepEqual(parseMxc('mxc://[1234:5678::abcd]:8448/x'), { serverName: '[1234:5678::abcd]:8448', mediaId: 'x' })
  })

  it('refuses anything else', () => {
    for (const uri of ['', 'mxc://', 'mxc://example.org', 'mxc://example.org/', 'mxc://example.org/a/b', 'mxc://example.org/a.b', 'http://example.org/a', 'mxc://exa mple.org/a', 'mxc:///a']) {
      assert.equal(parseMxc(uri), null, uri)
    }
  })
})
