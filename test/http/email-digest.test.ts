// Digest mails of missed messages (email.enable_notifs) over real HTTP, with a real SMTP server on loopback:
// an e-mail pusher is created when an address is added (notif_for_new_users) and can be set with
// POST /pushers/set (kind "email"); several notifying messages make one mail after the delay, listing them
// by room; none when they were read meanwhile; at most one per throttle window; the unsubscribe link's page
// removes the pusher only on its button.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startInstanceOn, type Session } from '../support/server.ts'
import { CS, enc } from '../support/rooms.ts'
import { notificationHelpers, text } from '../support/notifications.ts'
import { linkOf, startMailingServer, startTestSmtp, type ReceivedMail } from '../support/smtp.ts'

const DELAY_MS = 1500
const THROTTLE_MS = 5000

const DIGESTS = {
  'email.enable_notifs': true,
  'email.notif_delay_ms': DELAY_MS,
  'email.notif_throttle_ms': THROTTLE_MS,
  'email.client_base_url': 'https://chat.example.org',
  'push.delivery.poll_interval_ms': 200,
}
const smtp = await startTestSmtp()
const { t, settings } = await startMailingServer(smtp, DIGESTS)
const { send, receipt } = notificationHelpers(t)

let counter = 0
const address = () => `Reader${process.pid}x${++counter}@Example.ORG`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Adds a validated address to the user's account (requestToken, the mailed link, /account/3pid/add). */
async function addEmail(user: Session, email: string): Promise<void> {
  const client_secret = `secret${process.pid}x${++counter}`
  const res = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  const page = await fetch(linkOf(await smtp.next(email.toLowerCase())))
  assert.equal(page.status, 200)
  const first = await t.api.post(`${CS}/account/3pid/add`, { sid: res.body.sid, client_secret }, user.access_token)
  assert.equal(first.status, 401)
  const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: user.password, session: first.body.session }
  const added = await t.api.post(`${CS}/account/3pid/add`, { sid: res.body.sid, client_secret, auth }, user.access_token)
  assert.equal(added.status, 200, JSON.stringify(added.body))
}

async function pushers(user: Session): Promise<Array<Record<string, unknown>>> {
  const res = await t.api.get(`${CS}/pushers`, user.access_token)
  assert.equal(res.status, 200)
  return res.body.pushers
}

/** A room named `name` of `creator` that `member` joined. */
async function roomWith(creator: Session, member: Session, name: string): Promise<string> {
  const created = await t.api.post(`${CS}/createRoom`, { preset: 'private_chat', name, invite: [member.user_id] }, creator.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  assert.equal((await t.api.post(`${CS}/join/${enc(created.body.room_id)}`, {}, member.access_token)).status, 200)
  return created.body.room_id
}

async function setDisplayName(user: Session, name: string): Promise<void> {
  const res = await t.api.put(`${CS}/profile/${enc(user.user_id)}/displayname`, { displayname: name }, user.access_token)
  assert.equal(res.status, 200)
}

/** A user with an address (and so an e-mail pusher), in a room of another user. */
async function readerInRoom(name: string): Promise<{ reader: Session; sender: Session; to: string; room: string }> {
  const reader = await registerUser(t.api)
  const sender = await registerUser(t.api)
  const email = address()
  await addEmail(reader, email)
  return { reader, sender, to: email.toLowerCase(), room: await roomWith(sender, reader, name) }
}

/** The unsubscribe link of a digest mail. */
function unsubscribeLink(mail: ReceivedMail): string {
  const match = /(https?:\/\/\S+\/_synapse\/client\/email\/unsubscribe\?token=\S+)/.exec(mail.text)
  assert.ok(match, `an unsubscribe link in: ${mail.text}`)
  return match[1] as string
}

/** Whether a mail to `to` arrives within `ms`. */
async function noMailWithin(to: string, ms: number): Promise<void> {
  const before = smtp.mails.filter((m) => m.to.includes(to)).length
  await sleep(ms)
  assert.equal(smtp.mails.filter((m) => m.to.includes(to)).length, before, 'no mail arrived')
}

describe('digest mails of missed messages', () => {
  it('adding an address creates an e-mail pusher; several messages make one mail, then one per throttle window', async () => {
    const reader = await registerUser(t.api)
    const sender = await registerUser(t.api)
    await setDisplayName(sender, 'Grandma <Rose>')
    const email = address()
    const to = email.toLowerCase()
    await addEmail(reader, email)
    const listed = await pushers(reader)
    assert.deepEqual(listed, [
      { kind: 'email', app_id: 'm.email', pushkey: to, app_display_name: 'Email Notifications', device_display_name: to, lang: 'en', data: {} },
    ])

    const garden = await roomWith(sender, reader, 'Garden club')
    const family = await roomWith(sender, reader, 'Family')
    const sentAt = Date.now()
    await send(sender, garden, text('The roses are out'))
    await send(sender, family, text('Dinner on Sunday?'))
    await send(sender, family, { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'AAAA', sender_key: 'key', device_id: 'DEV', session_id: 'sess' }, 'm.room.encrypted')
    await send(sender, garden, text('Bring <gloves> & seeds'))

    const mail = await smtp.next(to)
    const firstAt = Date.now()
    assert.ok(firstAt - sentAt >= DELAY_MS - 100, `mailed after the delay (${firstAt - sentAt} ms)`)
    assert.match(mail.raw, /^From: Family Chat <noreply@test\.localhost>/m)
    assert.equal(mail.subject, '[Family Chat] You have 4 new messages in 2 rooms')
    for (const line of ['Garden club — https://chat.example.org/#/room/', 'Grandma <Rose>: The roses are out', 'Grandma <Rose>: Bring <gloves> & seeds', 'Family — ', 'Grandma <Rose>: Dinner on Sunday?', 'Grandma <Rose>: encrypted message']) {
      assert.ok(mail.text.includes(line), `${line} in: ${mail.text}`)
    }
    assert.ok(mail.text.indexOf('The roses are out') < mail.text.indexOf('Bring <gloves>'), 'in order')
    assert.ok(mail.html.includes('Bring &lt;gloves&gt; &amp; seeds'), 'escaped in HTML')
    assert.doesNotMatch(mail.html, /<script|<img|<link/)
    const headers = mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ')
    assert.match(headers, new RegExp(`^List-Unsubscribe: <${unsubscribeLink(mail).replace(/[?.]/g, '\\$&')}>$`, 'm'))
    assert.match(headers, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m)

    // Nothing more arrives for what was mailed; a new message waits for the throttle window.
    await send(sender, family, text('Or Saturday'))
    const second = await smtp.next(to)
    assert.ok(Date.now() - firstAt >= THROTTLE_MS - 200, `the second mail waited for the throttle window (${Date.now() - firstAt} ms)`)
    assert.equal(second.subject, '[Family Chat] You have a new message in Family')
    assert.ok(second.text.includes('Or Saturday'))
    assert.ok(!second.text.includes('Dinner on Sunday'), 'what was mailed is not mailed again')
    await noMailWithin(to, DELAY_MS + 1000)
  })

  it('mails nothing when the messages were read before the delay; one-click unsubscribe', async () => {
    const { reader, sender, to, room } = await readerInRoom('Quiet room')
    await send(sender, room, text('one'))
    const last = await send(sender, room, text('two'))
    await receipt(reader, room, last)
    await noMailWithin(to, DELAY_MS + 2500)

    // A message left unread afterwards is mailed alone.
    await send(sender, room, text('three'))
    const mail = await smtp.next(to)
    assert.ok(mail.text.includes('three'))
    assert.ok(!mail.text.includes('one') && !mail.text.includes('two'), mail.text)

    // A mail client's one-click unsubscribe (RFC 8058): a POST to the link itself.
    const oneClick = await fetch(unsubscribeLink(mail), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' })
    assert.equal(oneClick.status, 200)
    assert.deepEqual(await pushers(reader), [])
  })

  it('the unsubscribe link shows a page whose button removes the e-mail pusher', async () => {
    const { reader, sender, to, room } = await readerInRoom('Chatty')
    await send(sender, room, text('hello'))
    const link = unsubscribeLink(await smtp.next(to))

    // Opening the link (a mail scanner does) changes nothing.
    const page = await fetch(link)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    const html = await page.text()
    assert.match(html, /<html lang="en">/)
    assert.ok(html.includes(to), 'the page names the address')
    assert.match(html, /<form method="post" action="\/_synapse\/client\/email\/unsubscribe"><input type="hidden" name="token" value="[^"]+"><button type="submit">Stop e-mail notifications<\/button><\/form>/)
    assert.doesNotMatch(html, /<script|<link|src=|https?:\/\//, 'the page loads nothing from elsewhere')
    assert.equal((await pushers(reader)).length, 1)

    const token = new URL(link).searchParams.get('token') as string
    const confirm = () => fetch(new URL('/_synapse/client/email/unsubscribe', link), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString() })
    const done = await confirm()
    assert.equal(done.status, 200)
    assert.match(await done.text(), /E-mail notifications stopped/)
    assert.deepEqual(await pushers(reader), [])

    // The link is used up; a forged one does nothing.
    assert.equal((await confirm()).status, 400)
    assert.equal((await fetch(link)).status, 400)
    assert.equal((await fetch(new URL('/_synapse/client/email/unsubscribe?token=forged', link))).status, 400)

    await send(sender, room, text('still there?'))
    await noMailWithin(to, DELAY_MS + 1500)
  })
})

describe('digest mails across instances', () => {
  it('an address given at sign-up gets an e-mail pusher; two instances mail one digest, also when one stops after deferring it', async () => {
    const second = await startInstanceOn(t.database, { ...settings, ...DIGESTS })
    try {
      // Sign-up with the address on the second instance.
      const username = `signup${process.pid}x${++counter}`
      const email = address()
      const to = email.toLowerCase()
      const client_secret = `secret${process.pid}x${++counter}`
      const first = await second.api.post(`${CS}/register`, { username, password: 'registration password' })
      assert.equal(first.status, 401)
      const req = await second.api.post(`${CS}/register/email/requestToken`, { client_secret, email, send_attempt: 1 })
      assert.equal(req.status, 200, JSON.stringify(req.body))
      assert.equal((await fetch(linkOf(await smtp.next(to)))).status, 200)
      const res = await second.api.post(`${CS}/register`, {
        username,
        password: 'registration password',
        auth: { type: 'm.login.email.identity', threepid_creds: { sid: req.body.sid, client_secret }, session: first.body.session },
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      const reader = { ...res.body, username, password: 'registration password' } as Session
      const listed = await pushers(reader)
      assert.equal(listed.length, 1)
      assert.equal(listed[0]?.kind, 'email')
      assert.equal(listed[0]?.pushkey, to)

      const sender = await registerUser(t.api)
      const room = await roomWith(sender, reader, 'Both instances')
      await send(sender, room, text('sent through the first'))
      const viaSecond = await second.api.put(`${CS}/rooms/${enc(room)}/send/m.room.message/txn${++counter}`, text('sent through the second'), sender.access_token)
      assert.equal(viaSecond.status, 200)
      // Whichever instance deferred the pusher, the second stops now: the first mails it when due.
      await new Promise((resolve) => setTimeout(resolve, 300))
      await second.close()
      const mail = await smtp.next(to)
      assert.ok(mail.text.includes('sent through the first') && mail.text.includes('sent through the second'), mail.text)
      await noMailWithin(to, DELAY_MS + 1500)
    } finally {
      await second.close()
    }
  })
})

describe('POST /pushers/set with kind "email"', () => {
  const body = (pushkey: string, more: Record<string, unknown> = {}) => ({
    kind: 'email', app_id: 'm.email', pushkey, app_display_name: 'Email', device_display_name: 'Mail', lang: 'en', data: {}, ...more,
  })

  it('accepts only the app_id m.email and a validated address of the account; removed with its device', async () => {
    const user = await registerUser(t.api)
    const other = await registerUser(t.api)
    const mine = address()
    const theirs = address()
    await addEmail(user, mine)
    await addEmail(other, theirs)
    // Removing the automatic pusher, then setting one explicitly.
    assert.equal((await t.api.post(`${CS}/pushers/set`, { kind: null, app_id: 'm.email', pushkey: mine }, user.access_token)).status, 200)
    assert.deepEqual(await pushers(user), [])

    for (const [bad, why] of [
      [body(mine, { app_id: 'org.example.mail' }), 'another app_id'],
      [body(theirs), "another account's address"],
      [body('nobody@example.org'), 'an address of no account'],
      [body('not an address'), 'not an address'],
      [body(mine, { data: 'x' }), 'data not an object'],
      [body(mine, { kind: 'sms' }), 'an unknown kind'],
    ] as const) {
      const res = await t.api.post(`${CS}/pushers/set`, bad, user.access_token)
      assert.equal(res.status, 400, why)
      assert.equal(res.body.errcode, 'M_INVALID_PARAM', why)
    }
    assert.deepEqual(await pushers(user), [])

    const set = await t.api.post(`${CS}/pushers/set`, body(mine.toUpperCase()), user.access_token)
    assert.equal(set.status, 200, JSON.stringify(set.body))
    const listed = await pushers(user)
    assert.equal(listed.length, 1)
    assert.equal(listed[0]?.kind, 'email')
    assert.equal(listed[0]?.pushkey, mine.toLowerCase())

    // Removing the address removes its pusher.
    const removed = await t.api.post(`${CS}/account/3pid/delete`, { medium: 'email', address: mine }, user.access_token)
    assert.equal(removed.status, 200, JSON.stringify(removed.body))
    assert.deepEqual(await pushers(user), [])

    // The other account's automatic pusher goes with the device that added the address (logout).
    assert.equal((await pushers(other)).length, 1)
    const login = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: other.username }, password: other.password })
    assert.equal(login.status, 200)
    assert.equal((await t.api.post(`${CS}/logout`, {}, other.access_token)).status, 200)
    assert.deepEqual((await t.api.get(`${CS}/pushers`, login.body.access_token)).body.pushers, [])
  })
})
