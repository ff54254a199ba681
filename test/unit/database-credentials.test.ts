// The pure parts of the database password sources: reading a secret's text, the region of its ARN, and the
// RDS IAM token the real signer makes (signed locally: no network, no database).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { IamPassword, passwordOfSecret, regionOfArn } from '../../src/storage/credentials.ts'

describe('passwordOfSecret', () => {
  it('reads "password" from JSON (as RDS and Terraform write secrets) or takes bare text', () => {
    assert.equal(passwordOfSecret('{"username":"homestead","password":"p4ss"}'), 'p4ss')
    assert.equal(passwordOfSecret('just-the-password'), 'just-the-password')
  })

  it('refuses JSON without a password, broken JSON and an empty secret, without echoing the secret', () => {
    assert.throws(() => passwordOfSecret('{"username":"homestead"}'), /no "password" field/)
    assert.throws(() => passwordOfSecret('{"password": "oops'), (err: Error) => !err.message.includes('oops'))
    assert.throws(() => passwordOfSecret(''), /empty/)
  })
})

describe('regionOfArn', () => {
  it('is the fourth field of the ARN', () => {
    assert.equal(regionOfArn('arn:aws:secretsmanager:eu-west-1:123456789012:secret:homestead/db-AbCdEf'), 'eu-west-1')
    assert.equal(regionOfArn('not-an-arn'), undefined)
  })
})

describe('IamPassword with the RDS signer', () => {
  it('makes a token for the URL\'s host, port and user, signed for rds-db connect', async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'testing'
    process.env.AWS_SECRET_ACCESS_KEY ??= 'testing'
    const source = new IamPassword('postgres://homestead@db.cluster-abc.eu-west-1.rds.amazonaws.com:5432/homestead', 'eu-west-1')
    const token = await source.password()
    assert.match(token, /^db\.cluster-abc\.eu-west-1\.rds\.amazonaws\.com:5432\/\?/)
    const query = new URLSearchParams(token.slice(token.indexOf('?') + 1))
    assert.equal(query.get('Action'), 'connect')
    assert.equal(query.get('DBUser'), 'homestead')
    assert.match(query.get('X-Amz-Credential') ?? '', /\/eu-west-1\/rds-db\/aws4_request$/)
    assert.ok(query.get('X-Amz-Signature'))
    assert.equal(await source.refused(), false)
  })
})
