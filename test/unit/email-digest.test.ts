// The digest mail of missed messages (email/digest.ts): room links for matrix.to or a web client, what each
// kind of event reads as, and the unsubscribe link in both parts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { describe as describeEvent, digestMail, roomLink, type DigestMessage } from '../../src/email/digest.ts'

const message = (type: string, content: Record<string, unknown>, stateKey: string | null = null): DigestMessage => ({ sender: '@a:hs', senderName: null, type, content, stateKey })

describe('digest mails', () => {
  it('links rooms as matrix.to does, or as a web client does', () => {
    assert.equal(roomLink('https://matrix.to', '!r:hs'), 'https://matrix.to/#/!r%3Ahs')
    assert.equal(roomLink('https://matrix.to/', '!r:hs'), 'https://matrix.to/#/!r%3Ahs')
    assert.equal(roomLink('https://app.element.io/', '!r:hs'), 'https://app.element.io/#/room/!r%3Ahs')
  })

  it('describes each kind of event, shortening long texts', () => {
    assert.equal(describeEvent(message('m.room.message', { msgtype: 'm.text', body: 'hi\n  there' }), '@me:hs'), 'hi there')
    assert.equal(describeEvent(message('m.room.encrypted', { ciphertext: 'x' }), '@me:hs'), 'encrypted message')
    assert.equal(describeEvent(message('m.room.message', { msgtype: 'm.image', body: 'cat.png' }), '@me:hs'), 'sent an image')
    assert.equal(describeEvent(message('m.room.message', { msgtype: 'm.emote', body: 'waves' }), '@me:hs'), '* waves')
    assert.equal(describeEvent(message('m.room.member', { membership: 'invite' }, '@me:hs'), '@me:hs'), 'invited you to the room')
    assert.equal(describeEvent(message('m.call.invite', {}), '@me:hs'), 'is calling you')
    const long = describeEvent(message('m.room.message', { msgtype: 'm.text', body: 'x'.repeat(1000) }), '@me:hs')
    assert.equal(long.length, 300)
    assert.ok(long.endsWith('…'))
  })

  it('names the rooms and senders and ends with the unsubscribe link', () => {
    const mail = digestMail({
      appName: 'Chat',
      userId: '@me:hs',
      clientBaseUrl: 'https://matrix.to',
      unsubscribeUrl: 'https://hs.example/_synapse/client/email/unsubscribe?token=abc',
      rooms: [{ roomId: '!r:hs', name: null, messages: [{ ...message('m.room.message', { body: 'a "quote"' }), senderName: 'Ann' }] }],
    })
    assert.equal(mail.subject, '[Chat] You have a new message in a chat with Ann')
    assert.ok(mail.text.includes('Ann: a "quote"'))
    assert.ok(mail.text.trimEnd().endsWith('https://hs.example/_synapse/client/email/unsubscribe?token=abc'))
    assert.ok(mail.html.includes('a &quot;quote&quot;'))
    assert.ok(mail.html.includes('href="https://hs.example/_synapse/client/email/unsubscribe?token=abc"'))
  })
})
