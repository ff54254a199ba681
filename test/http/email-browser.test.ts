// A password reset completed in a real browser: headless Chromium (Debian's chromium, driven by
// playwright-core) opens the link of the mail a real SMTP server on loopback received, confirms on the page
// Homestead renders, and the app then sets the new password. Skipped when chromium or playwright-core is
// missing from the machine.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { registerUser } from '../support/server.ts'
import { linkOf, startMailingServer, startTestSmtp } from '../support/smtp.ts'

const CHROMIUM = process.env.HOMESTEAD_TEST_CHROMIUM ?? '/usr/bin/chromium'
type Playwright = typeof import('playwright-core')
const playwright: Playwright | null = existsSync(CHROMIUM) ? await import('playwright-core').catch(() => null) : null
const skip = playwright ? false : `needs ${CHROMIUM} and the playwright-core package`

const CS = '/_matrix/client/v3'

describe('password reset in a headless browser', { skip }, async () => {
  const smtp = await startTestSmtp()
  const { t, port } = await startMailingServer(smtp)

  it('opens the mailed link, confirms with the button, and the new password then works', async () => {
    const user = await registerUser(t.api)
    const email = `reset${process.pid}@example.org`
    // The address joins the account: validation link (followed here over plain HTTP), then /account/3pid/add.
    const addSecret = 'addsecret1'
    const add = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret: addSecret, email, send_attempt: 1 })
    assert.equal((await fetch(linkOf(await smtp.next(email)))).status, 200)
    const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: user.password }
    assert.equal((await t.api.post(`${CS}/account/3pid/add`, { sid: add.body.sid, client_secret: addSecret, auth }, user.access_token)).status, 200)

    const client_secret = 'resetsecret1'
    const req = await t.api.post(`${CS}/account/password/email/requestToken`, { client_secret, email, send_attempt: 1 })
    assert.equal(req.status, 200, JSON.stringify(req.body))
    const link = linkOf(await smtp.next(email))

    const browser = await (playwright as Playwright).chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage()
      const requested: string[] = []
      page.on('request', (r) => requested.push(r.url()))
      const response = await page.goto(link)
      assert.equal(response?.status(), 200)
      assert.equal(await page.getAttribute('html', 'lang'), 'en')
      assert.equal(await page.locator('h1').textContent(), 'Reset your password')
      assert.match(await page.title(), /Family Chat/)
      // Reachable by keyboard, named by its text.
      const button = page.getByRole('button', { name: 'Confirm the password reset' })
      await page.keyboard.press('Tab')
      assert.ok(await button.evaluate((el) => el === document.activeElement), 'the button takes the first Tab')
      await page.keyboard.press('Enter')
      await page.waitForSelector('text=Password reset confirmed')
      assert.equal(await page.locator('h1').textContent(), 'Password reset confirmed')
      // Only the page itself and its form's target were fetched: nothing from elsewhere.
      for (const url of requested) assert.ok(url.startsWith(`http://127.0.0.1:${port}/`), url)
    } finally {
      await browser.close()
    }

    const NEW = 'a password set after the browser'
    const reset = await t.api.post(`${CS}/account/password`, { new_password: NEW, auth: { type: 'm.login.email.identity', threepid_creds: { sid: req.body.sid, client_secret } } })
    assert.equal(reset.status, 200, JSON.stringify(reset.body))
    const login = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: email }, password: NEW })
    assert.equal(login.status, 200)
    assert.equal(login.body.user_id, user.user_id)
  })
})
