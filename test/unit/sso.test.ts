// CAS answers, user-name mapping and redirect URL building (src/users/cas.ts, src/users/sso.ts).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeQueryValue, parseCasResponse } from '../../src/users/cas.ts'
import { addQueryParam, mapUsernameToLocalpart } from '../../src/users/sso.ts'

describe('parseCasResponse', () => {
  it('reads the user and CAS 3.0 attributes, whatever the namespace prefix, with entities decoded', () => {
    const xml = `<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>
      <cas:authenticationSuccess>
        <cas:user>Alice &amp; Co</cas:user>
        <cas:attributes>
          <cas:displayName>Alice &#x41;.</cas:displayName>
          <cas:memberOf>staff</cas:memberOf>
          <cas:memberOf><![CDATA[admins & <friends>]]></cas:memberOf>
          <cas:empty/>
        </cas:attributes>
      </cas:authenticationSuccess>
    </cas:serviceResponse>`
    const parsed = parseCasResponse(xml)
    assert.equal(parsed?.user, 'Alice & Co')
    assert.deepEqual({ ...parsed?.attributes }, { displayName: ['Alice A.'], memberOf: ['staff', 'admins & <friends>'], empty: [''] })
    const plain = parseCasResponse('<serviceResponse><authenticationSuccess><user>bob</user></authenticationSuccess></serviceResponse>')
    assert.equal(plain?.user, 'bob')
  })

  it('refuses a failure, a success without a user, and text that is not a CAS answer', () => {
    assert.equal(parseCasResponse(`<cas:serviceResponse xmlns:cas='x'><cas:authenticationFailure code="INVALID_TICKET">no</cas:authenticationFailure></cas:serviceResponse>`), null)
    assert.equal(parseCasResponse('<cas:serviceResponse><cas:authenticationSuccess><cas:user>  </cas:user></cas:authenticationSuccess></cas:serviceResponse>'), null)
    assert.equal(parseCasResponse('yes\nalice\n'), null)
  })

  it('reads a hostile 64 KiB answer in linear time', () => {
    const started = performance.now()
    for (const unit of ['<cas:user', '<a:b:c', '<cas:authenticationSuccess ', '<x' + 'y'.repeat(300)]) parseCasResponse(unit.repeat(Math.floor(65536 / unit.length)))
    assert.ok(performance.now() - started < 2000)
  })
})

describe('mapUsernameToLocalpart', () => {
  it('lower-cases and escapes as =xx every byte a localpart cannot hold, = itself and a leading _', () => {
    assert.equal(mapUsernameToLocalpart('cas_user!'), 'cas_user=21')
    assert.equal(mapUsernameToLocalpart('Alice.Smith'), 'alice.smith')
    assert.equal(mapUsernameToLocalpart('a=b'), 'a=3db')
    assert.equal(mapUsernameToLocalpart('_x'), '=5fx')
    assert.equal(mapUsernameToLocalpart('zoë'), 'zo=c3=ab')
  })
})

describe('URL building', () => {
  it('percent-encodes all but unreserved characters, and adds a parameter before the fragment', () => {
    assert.equal(encodeQueryValue("https://client?p=http%3A%2F%2Fserver!'()*"), 'https%3A%2F%2Fclient%3Fp%3Dhttp%253A%252F%252Fserver%21%27%28%29%2A')
    assert.equal(addQueryParam('https://client?p=1#/room', 'loginToken', 'abc'), 'https://client?p=1&loginToken=abc#/room')
    assert.equal(addQueryParam('element://sso', 'loginToken', 'a_b'), 'element://sso?loginToken=a_b')
  })
})
