// The digest mail of missed messages sent to an e-mail pusher's address: the unread notifying events,
// grouped by room (room name, sender, text), a link to each room and the unsubscribe link. Pure.
import { escapeHtml } from './pages.ts'

/** One missed event, as the mail shows it. */
export interface DigestMessage {
  sender: string
  senderName: string | null
  type: string
  content: Record<string, unknown>
  /** For member events: the user it is about. */
  stateKey: string | null
}

export interface DigestRoom {
  roomId: string
  /** m.room.name, else the canonical alias; null: the room has neither. */
  name: string | null
  messages: DigestMessage[]
}

export interface DigestInput {
  appName: string
  /** The user the mail is for. */
  userId: string
  rooms: DigestRoom[]
  clientBaseUrl: string
  unsubscribeUrl: string
}

/** Longest text of one message shown in a mail. */
const MAX_TEXT_CHARS = 300

/** A link to a room for the configured client: matrix.to's form, or a web client's #/room/<id>. */
export function roomLink(clientBaseUrl: string, roomId: string): string {
  const base = clientBaseUrl.replace(/\/+$/, '')
  const id = encodeURIComponent(roomId)
  return /(^|\.|\/)matrix\.to$/i.test(new URL(base).host) ? `${base}/#/${id}` : `${base}/#/room/${id}`
}

function shorten(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > MAX_TEXT_CHARS ? `${flat.slice(0, MAX_TEXT_CHARS - 1)}…` : flat
}

/** What a mail says an event was: the text of a message, or what happened. */
export function describe(m: DigestMessage, userId: string): string {
  if (m.type === 'm.room.encrypted') return 'encrypted message'
  if (m.type === 'm.room.member') return m.content.membership === 'invite' && m.stateKey === userId ? 'invited you to the room' : 'changed their membership'
  if (m.type === 'm.call.invite') return 'is calling you'
  if (m.type === 'm.sticker') return 'sent a sticker'
  if (m.type === 'm.room.message' || typeof m.content.body === 'string') {
    const body = typeof m.content.body === 'string' ? shorten(m.content.body) : ''
    const msgtype = m.content.msgtype
    if (msgtype === 'm.image') return 'sent an image'
    if (msgtype === 'm.file') return 'sent a file'
    if (msgtype === 'm.video') return 'sent a video'
    if (msgtype === 'm.audio') return 'sent an audio message'
    if (msgtype === 'm.emote') return `* ${body}`
    return body === '' ? 'sent a message' : body
  }
  return `sent an event (${shorten(m.type)})`
}

function senderLabel(m: DigestMessage): string {
  return m.senderName ? shorten(m.senderName) : m.sender
}

/** The room's name; for a room without one (a direct chat, mostly), who wrote in it. */
function roomLabel(room: DigestRoom): string {
  if (room.name) return shorten(room.name)
  const senders = [...new Set(room.messages.map(senderLabel))]
  if (senders.length === 0) return 'a room'
  if (senders.length === 1) return `a chat with ${senders[0]}`
  if (senders.length === 2) return `a chat with ${senders[0]} and ${senders[1]}`
  return `a chat with ${senders[0]}, ${senders[1]} and ${senders.length - 2} more`
}

export function digestMail(input: DigestInput): { subject: string; text: string; html: string } {
  const count = input.rooms.reduce((n, r) => n + r.messages.length, 0)
  const first = input.rooms[0]
  const what = count === 1 ? 'a new message' : `${count} new messages`
  const where = input.rooms.length === 1 && first ? ` in ${roomLabel(first)}` : ` in ${input.rooms.length} rooms`
  const subject = `[${input.appName}] You have ${what}${where}`
  const intro = `You have ${what}${where} that you have not read yet (${input.userId}).`

  const textRooms = input.rooms.map((room) => {
    const lines = room.messages.map((m) => `  ${senderLabel(m)}: ${describe(m, input.userId)}`)
    return `${roomLabel(room)} — ${roomLink(input.clientBaseUrl, room.roomId)}\n${lines.join('\n')}`
  })
  const unsubscribeText = `You get these mails because e-mail notifications are on for this address. To stop them, follow this link:\n${input.unsubscribeUrl}`
  const text = `${intro}\n\n${textRooms.join('\n\n')}\n\n${unsubscribeText}\n`

  const htmlRooms = input.rooms
    .map((room) => {
      const items = room.messages
        .map((m) => `<li><strong>${escapeHtml(senderLabel(m))}</strong>: ${escapeHtml(describe(m, input.userId))}</li>`)
        .join('')
      return `<h2 style="font-size: 1.1em"><a href="${escapeHtml(roomLink(input.clientBaseUrl, room.roomId))}">${escapeHtml(roomLabel(room))}</a></h2><ul>${items}</ul>`
    })
    .join('\n')
  const html = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
<p>${escapeHtml(intro)}</p>
${htmlRooms}
<p style="font-size: .9em">You get these mails because e-mail notifications are on for this address. <a href="${escapeHtml(input.unsubscribeUrl)}">Unsubscribe</a></p>
</body></html>`
  return { subject, text, html }
}
