// The accounts journey in real Chromium: sign up, confirm by email, log in,
// edit the profile, upload an avatar, see the profile, log out. Also: the
// same journey with JavaScript off, and the forms' answers to bad input.
//
// Field names, URLs and hooks (.flash, .field-error, .form-error) are the
// ones docs/THEMING.md promises.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, PageChecks, DESKTOP, formFor, field, fill, submit,
  mainText, logoutButton, logOut, makePng, uniqueName, outboxCount, GRAVATAR_RE,
} from './lib.mjs';

const PASSWORD = 'Velvet-Orchard-Lantern-42';
const SIGNUP_BUTTON = /sign ?up|create( an| my)? account|join|register/i;
const LOGIN_BUTTON = /log ?in|sign ?in/i;
const SAVE_BUTTON = /save|update/i;
const UPLOAD_BUTTON = /upload|save|update|use/i;

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'accounts' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// Mark the server as failed (keeps its data folder, prints its log) when a
// test throws.
async function guarded(fn) {
  try {
    await fn();
  } catch (err) {
    if (server) server.failed = true;
    throw err;
  }
}

const step = (msg) => console.log(`[e2e] ${msg}`);

async function goto(page, pathOrUrl) {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${server.url}${pathOrUrl}`;
  const res = await page.goto(url, { waitUntil: 'load' });
  assert.ok(res, `no response for ${url}`);
  return res;
}

/** Visible, non-empty error messages (scripts may keep empty hidden ones ready). */
async function shownErrors(page) {
  return page.locator('.field-error, .form-error').evaluateAll((els) => els
    .filter((e) => !e.hidden && e.offsetParent !== null && e.textContent.trim())
    .map((e) => e.textContent.trim()));
}

/** The POST succeeded (2xx/3xx); else fail with the errors the page shows. */
async function assertAccepted(page, res, what) {
  if (res.status() < 400) return;
  const errors = await shownErrors(page);
  assert.fail(`${what} answered ${res.status()}${errors.length ? `: ${errors.join(' | ')}` : ` (${(await mainText(page)).slice(0, 200)})`}`);
}

async function noFormErrors(page, what) {
  const texts = await shownErrors(page);
  if (texts.length) assert.fail(`${what}: the form answered with errors: ${texts.join(' | ')}`);
}

async function signUp(page, { username, email, password }) {
  const form = await formFor(page, '/accounts/signup', 'username');
  await fill(form, 'username', /user ?name/i, username);
  await fill(form, 'email', /e-?mail/i, email);
  await fill(form, 'password', /password/i, password);
  return submit(page, form, SIGNUP_BUTTON);
}

async function logIn(page, { login, password }) {
  const form = await formFor(page, '/accounts/login', 'login');
  await fill(form, 'login', /user ?name|e-?mail|log ?in/i, login);
  await fill(form, 'password', /password/i, password);
  return submit(page, form, LOGIN_BUTTON);
}

async function confirmFromOutbox(page, email) {
  const mail = await server.nextEmail({ to: email });
  step(`email "${mail.subject}" to ${mail.to}: ${mail.links.length} link(s)`);
  assert.ok(mail.firstLink, `the confirmation email has no http link:\n${mail.text || mail.html}`);
  assert.match(mail.firstLink, /\/accounts\/confirm\/[^/?#\s]+/, `the first link is not a confirmation link: ${mail.firstLink}`);
  assert.ok(mail.firstLink.startsWith(`${server.url}/`),
    `the link should start with COTERIE_PUBLIC_URL (${server.url}): ${mail.firstLink}`);
  const res = await goto(page, mail.firstLink);
  await assertAccepted(page, res, 'confirming');
  assert.doesNotMatch(await mainText(page), /invalid|expired|not found/i, 'the confirmation page reports a failure');
  return mail.firstLink;
}

async function editProfile(page, profile) {
  const form = await formFor(page, '/accounts/settings/profile', 'display_name');
  await fill(form, 'display_name', /display name|name/i, profile.displayName);
  await fill(form, 'bio', /bio|about/i, profile.bio);
  await fill(form, 'location', /location|where/i, profile.location);
  await fill(form, 'website', /web ?site|url|home ?page/i, profile.website);
  const res = await submit(page, form, SAVE_BUTTON);
  await assertAccepted(page, res, 'saving the profile');
  await noFormErrors(page, 'saving the profile');
}

async function postAvatar(page, file) {
  // Two forms may post to /accounts/settings/avatar: take the one with the file input.
  const form = page.locator('form').filter({ has: page.locator('input[type=file][name="file"]') }).first();
  const input = form.locator('input[type=file][name="file"]');
  assert.equal(await input.count(), 1, 'the settings page has no <input type=file name=file> for the avatar');
  await input.setInputFiles(file);
  return submit(page, form, UPLOAD_BUTTON);
}

async function uploadAvatar(page) {
  const res = await postAvatar(page, { name: 'avatar.png', mimeType: 'image/png', buffer: makePng(300, 3) });
  await assertAccepted(page, res, 'uploading the avatar');
  await noFormErrors(page, 'uploading the avatar');
}

async function expectFlash(page, what) {
  const flash = page.locator('.flash');
  await flash.first().waitFor({ state: 'visible', timeout: 10_000 }).catch(() => {});
  assert.ok(await flash.count(), `${what}: no .flash message`);
  assert.equal(await flash.first().getAttribute('role'), 'status', `${what}: the .flash message lacks role="status"`);
  return flash.first().innerText();
}

/** Every <img> on the page that shows a member's avatar. */
async function avatarImages(page, { username, displayName }) {
  const imgs = page.locator('img');
  const out = [];
  for (let i = 0; i < (await imgs.count()); i++) {
    const img = imgs.nth(i);
    const src = (await img.getAttribute('src')) || '';
    const alt = (await img.getAttribute('alt')) || '';
    const cls = (await img.getAttribute('class')) || '';
    const hay = `${src} ${alt} ${cls}`.toLowerCase();
    if (hay.includes('avatar') || hay.includes(username) || (alt && alt.includes(displayName))) {
      out.push({ img, src, alt });
    }
  }
  return out;
}

test('sign up, confirm, log in, edit profile, upload avatar, see profile, log out', { timeout: 240_000 }, () => guarded(async () => {
  const checks = new PageChecks('accounts');
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = checks.watch(await context.newPage());
  const username = uniqueName('ada');
  const email = `${username}@example.com`;
  const displayName = 'Ada Lovelace-Núñez';
  const profile = {
    displayName,
    bio: 'I love **knitting** and tea.\n\n<script>alert("bio")</script><img src="x" onerror="alert(1)">',
    location: 'London',
    website: 'https://example.com/ada',
  };

  try {
    step('home');
    let res = await goto(page, '/');
    assert.equal(res.status(), 200);
    await checks.check(page, 'home');
    const signupLink = page.locator('a[href$="/accounts/signup"], a[href*="/accounts/signup?"]');
    assert.ok(await signupLink.count(), 'the home page has no link to /accounts/signup');

    step('sign up');
    await signupLink.first().click();
    await page.waitForLoadState('load');
    assert.equal(new URL(page.url()).pathname, '/accounts/signup');
    await checks.check(page, 'signup');
    res = await signUp(page, { username, email, password: PASSWORD });
    await assertAccepted(page, res, 'signing up');
    await noFormErrors(page, 'signing up');
    const done = await mainText(page);
    assert.match(done, /check your (e-?mail|inbox)/i, `after signing up the page should say to check the email; it says: ${done.slice(0, 300)}`);
    assert.ok(done.includes(email), 'the "check your email" page should name the address');
    await checks.check(page, 'signup-done');

    step('confirm from the outbox');
    const link = await confirmFromOutbox(page, email);
    await checks.check(page, 'confirm');
    res = await goto(page, link);
    assert.ok(res.status() >= 400 && res.status() < 500, `a confirmation link used twice answered ${res.status()}, not a 4xx`);

    step('log in');
    await context.clearCookies();
    res = await goto(page, '/accounts/login?next=%2Faccounts%2Fsettings');
    assert.equal(res.status(), 200);
    await checks.check(page, 'login');
    res = await logIn(page, { login: username, password: PASSWORD });
    await noFormErrors(page, 'logging in');
    assert.equal(new URL(page.url()).pathname, '/accounts/settings', 'logging in with next=/accounts/settings should land there');
    assert.ok(await logoutButton(page).count(), 'after logging in the header has no Log out button');

    step('edit the profile');
    await editProfile(page, profile);
    await expectFlash(page, 'saving the profile');
    await goto(page, '/accounts/settings');
    const form = await formFor(page, '/accounts/settings/profile', 'display_name');
    assert.equal(await (await field(form, 'display_name')).inputValue(), displayName, 'the saved display name is not in the form');
    assert.equal(await (await field(form, 'location')).inputValue(), profile.location);

    step('a file that is not an image is refused');
    res = await postAvatar(page, { name: 'holiday.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture\n'.repeat(50)) });
    assert.ok(res.status() >= 400 && res.status() < 500, `uploading a non-image answered ${res.status()}, not a 4xx`);
    assert.ok((await shownErrors(page)).length, 'uploading a non-image shows no error');
    await checks.check(page, 'settings-upload-error', { screenshots: false });

    step('upload an avatar');
    await goto(page, '/accounts/settings');
    await uploadAvatar(page);
    await expectFlash(page, 'uploading the avatar');
    await goto(page, '/accounts/settings');
    await checks.check(page, 'settings');

    step('see the profile');
    res = await goto(page, `/u/${username}`);
    assert.equal(res.status(), 200);
    const text = await mainText(page);
    assert.ok(text.includes(displayName), `the profile does not show the display name "${displayName}"`);
    assert.ok(text.includes(profile.location), 'the profile does not show the location');
    assert.equal(await page.locator('main strong, body strong').filter({ hasText: 'knitting' }).count() > 0, true,
      'the bio\'s **knitting** is not rendered as <strong>');
    assert.ok(!text.includes('**knitting**'), 'the bio shows raw markdown');
    assert.ok(await page.locator(`a[href="${profile.website}"]`).count(), 'the profile has no link to the website');
    assert.equal(await page.locator('main script, .bio script').count(), 0, 'a <script> from the bio reached the page');
    assert.equal(await page.locator('[onerror]').count(), 0, 'an onerror attribute from the bio reached the page');

    const avatars = await avatarImages(page, { username, displayName });
    assert.ok(avatars.length, 'the profile shows no avatar <img> (looked for "avatar" or the member\'s name in src, alt or class)');
    for (const a of avatars) {
      assert.doesNotMatch(a.src, GRAVATAR_RE, `after an upload the avatar is still a Gravatar URL: ${a.src}`);
      await a.img.scrollIntoViewIfNeeded({ timeout: 2_000 }).catch(() => {}); // lazy images load in view
      await a.img.evaluate((el) => (el.complete ? null : Promise.race([
        new Promise((r) => { el.addEventListener('load', r); el.addEventListener('error', r); }),
        new Promise((r) => { setTimeout(r, 10_000); }),
      ])));
      const w = await a.img.evaluate((el) => el.naturalWidth);
      assert.ok(w > 0, `the avatar ${a.src} did not load (naturalWidth 0)`);
    }
    step(`avatars on the profile: ${avatars.map((a) => a.src).join(', ')}`);
    await checks.check(page, 'profile');

    step('log out');
    assert.ok(await logoutButton(page).count(), 'the profile page has no Log out button');
    res = await logOut(page);
    await assertAccepted(page, res, 'logging out');
    assert.equal(await logoutButton(page).count(), 0, 'still a Log out button after logging out');
    assert.ok(await page.getByRole('link', { name: LOGIN_BUTTON }).count(), 'no Log in link after logging out');

    step('logged out: settings closed, profile public, no stale member page');
    await goto(page, '/accounts/settings');
    assert.equal(await page.locator('[name="display_name"]').count(), 0, 'the settings form is shown after logging out');
    res = await goto(page, `/u/${username}`);
    assert.equal(res.status(), 200);
    assert.ok((await mainText(page)).includes(displayName));
    assert.equal(await logoutButton(page).count(), 0, 'a logged-in page was served after logging out');

    checks.assertClean();
  } finally {
    await context.close();
  }
}));

test('with JavaScript off: sign up, confirm, log in, edit profile, upload avatar, see profile, log out', { timeout: 180_000 }, () => guarded(async () => {
  const checks = new PageChecks('accounts-nojs');
  const context = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false });
  const page = checks.watch(await context.newPage());
  const username = uniqueName('nojs');
  const email = `${username}@example.com`;
  const displayName = 'Grace Hopper';

  try {
    await goto(page, '/accounts/signup');
    let res = await signUp(page, { username, email, password: PASSWORD });
    await assertAccepted(page, res, 'signing up');
    await noFormErrors(page, 'signing up');
    await confirmFromOutbox(page, email);

    await context.clearCookies();
    await goto(page, '/accounts/login');
    res = await logIn(page, { login: email, password: PASSWORD }); // the email works as the login too
    await noFormErrors(page, 'logging in with the email address');
    assert.ok(await logoutButton(page).count(), 'after logging in the header has no Log out button');

    await goto(page, '/accounts/settings');
    await editProfile(page, { displayName, bio: 'Wrote the **first** compiler.', location: 'Arlington', website: 'https://example.org/grace' });
    await goto(page, '/accounts/settings');
    await uploadAvatar(page);
    await checks.check(page, 'settings', { axe: false });

    res = await goto(page, `/u/${username}`);
    assert.equal(res.status(), 200);
    const text = await mainText(page);
    assert.ok(text.includes(displayName), 'the profile does not show the display name');
    assert.ok(await page.locator('strong').filter({ hasText: 'first' }).count(), 'the bio\'s **first** is not rendered as <strong>');
    const avatars = await avatarImages(page, { username, displayName });
    assert.ok(avatars.length, 'the profile shows no avatar <img>');
    for (const a of avatars) {
      assert.doesNotMatch(a.src, GRAVATAR_RE, `after an upload the avatar is still a Gravatar URL: ${a.src}`);
      const img = await context.request.get(new URL(a.src, page.url()).href);
      assert.equal(img.status(), 200, `the avatar ${a.src} answered ${img.status()}`);
      assert.match(img.headers()['content-type'] || '', /^image\//, `the avatar ${a.src} is not an image`);
    }
    await checks.check(page, 'profile', { axe: false });

    res = await logOut(page);
    await assertAccepted(page, res, 'logging out');
    assert.equal(await logoutButton(page).count(), 0, 'still a Log out button after logging out');

    checks.assertClean();
  } finally {
    await context.close();
  }
}));

test('sign-up and log-in forms answer bad input with clear errors and change nothing', { timeout: 120_000 }, () => guarded(async () => {
  const checks = new PageChecks('accounts-errors');
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = checks.watch(await context.newPage());

  try {
    // The server's own checks, not the browser's: switch off HTML validation.
    await goto(page, '/accounts/signup');
    const form = await formFor(page, '/accounts/signup', 'username');
    await form.evaluate((f) => { f.noValidate = true; });
    const mailsBefore = await outboxCount(server);
    const res = await signUp(page, { username: 'no spaces!', email: 'not-an-email', password: 'x' });
    assert.ok(res.status() >= 400 && res.status() < 500, `bad sign-up input answered ${res.status()}, not a 4xx`);
    for (const name of ['username', 'email', 'password']) {
      const input = page.locator(`form [name="${name}"]`).first();
      const described = (await input.getAttribute('aria-describedby')) || '';
      const errorIds = await page.locator('.field-error').evaluateAll((els) => els.map((e) => e.id).filter(Boolean));
      assert.ok(described.split(/\s+/).some((id) => errorIds.includes(id)),
        `the ${name} field has no .field-error linked with aria-describedby (aria-describedby="${described}", error ids: ${errorIds.join(', ') || 'none'})`);
    }
    assert.equal(await page.locator('form [name="email"]').first().inputValue(), 'not-an-email', 'the form lost the email that was sent');
    assert.equal(await page.locator('form [name="password"]').first().inputValue(), '', 'the form echoed the password back');
    assert.equal(await outboxCount(server), mailsBefore, 'a rejected sign-up sent an email');
    await checks.check(page, 'signup-errors');

    // Taken names: sign up once, then again with the same username and email.
    const username = uniqueName('dup');
    await goto(page, '/accounts/signup');
    await signUp(page, { username, email: `${username}@example.com`, password: PASSWORD });
    await noFormErrors(page, 'the first sign-up');
    await goto(page, '/accounts/signup');
    const again = await signUp(page, { username, email: `${username}@example.com`, password: PASSWORD });
    assert.ok(again.status() >= 400 && again.status() < 500, `a second sign-up with a taken name answered ${again.status()}`);
    assert.ok((await shownErrors(page)).length, 'a taken username/email gave no error');

    // Wrong password: an error about the whole form, and no session.
    await goto(page, '/accounts/login');
    const login = await logIn(page, { login: username, password: 'not-the-password' });
    assert.ok(login.status() >= 400 && login.status() < 500, `a wrong password answered ${login.status()}`);
    assert.ok((await shownErrors(page)).length, 'a wrong password gave no error message');
    assert.equal(await logoutButton(page).count(), 0, 'a wrong password logged in');
    await checks.check(page, 'login-error');

    checks.assertClean();
  } finally {
    await context.close();
  }
}));
