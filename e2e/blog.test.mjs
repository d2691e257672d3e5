// Member blogs with covers, tags, archives and feeds in real Chromium:
// a member writes a draft with a cover picture and tags, previews it,
// saves the draft, publishes it, finds it in the RSS feed, on the blog, on
// its tag page and in the month archive, then edits its title. Every page
// is screenshot at phone and desktop widths and checked with axe.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, PageChecks, DESKTOP, formFor, fill, submit, logoutButton, uniqueName, makePng,
} from './lib.mjs';

const PASSWORD = 'Linen-Selvedge-Bobbin-48';

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'blog' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const step = (msg) => console.log(`[e2e] ${msg}`);

async function goto(page, path) {
  const res = await page.goto(`${server.url}${path}`, { waitUntil: 'load' });
  assert.ok(res, `no response for ${path}`);
  assert.ok(res.status() < 400, `${path} answered ${res.status()}`);
  return res;
}

/** A new member through sign-up, the emailed link and log-in. */
async function newMember(checks) {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = checks.watch(await context.newPage());
  const username = uniqueName('writer');
  const email = `${username}@example.com`;
  await goto(page, '/accounts/signup');
  const signup = await formFor(page, '/accounts/signup', 'username');
  await fill(signup, 'username', /user ?name/i, username);
  await fill(signup, 'email', /e-?mail/i, email);
  await fill(signup, 'password', /password/i, PASSWORD);
  await submit(page, signup, /join|sign ?up|create/i);
  const mail = await server.nextEmail({ to: email });
  await goto(page, new URL(mail.firstLink).pathname);
  await goto(page, '/accounts/login');
  const login = await formFor(page, '/accounts/login', 'login');
  await fill(login, 'login', /user ?name|e-?mail|log ?in/i, username);
  await fill(login, 'password', /password/i, PASSWORD);
  await submit(page, login, /log ?in/i);
  assert.ok(await logoutButton(page).count(), 'logging in did not work');
  return { context, page, username };
}

function writeForm(page) {
  return page.locator('form').filter({ has: page.locator('[name="title"]') }).first();
}

/** Press the writing form's button with this `action` and wait for the page that follows. */
async function press(page, action) {
  const posted = page.waitForResponse((r) => r.request().method() === 'POST', { timeout: 30_000 });
  await writeForm(page).locator(`button[name="action"][value="${action}"]`).click();
  const res = await posted;
  await page.waitForLoadState('load');
  assert.ok(res.status() < 400, `pressing ${action} answered ${res.status()}`);
  return res;
}

/** Is this <img> loaded (a real picture, not a broken one)? */
async function loaded(img) {
  await img.scrollIntoViewIfNeeded();
  return img.evaluate((el) => el.complete && el.naturalWidth > 0);
}

test('blog: a draft with a cover and tags, preview, publish, feed, tag page, archive, edit the title', { timeout: 300_000 }, async () => {
  const checks = new PageChecks('blog');
  const me = await newMember(checks);
  const { page } = me;
  const token = Math.random().toString(36).slice(2, 7);
  const title = `Indigo, three ways ${token}`;
  const cover = { name: 'indigo.png', mimeType: 'image/png', buffer: makePng(1200, 4) };

  step('write a draft with a cover picture and tags, and preview it');
  await goto(page, '/blog/new');
  let form = writeForm(page);
  await form.locator('[name="title"]').fill(title);
  await form.locator('[name="body"]').fill('Dyed twice, **washed** once.\n\n## Why indigo\n\nIt fades the way you live in it.');
  await form.locator('[name="tags"]').fill('Indigo, Denim');
  await form.locator('input[type="file"][name="file"]').setInputFiles(cover);
  await checks.check(page, 'write');
  await press(page, 'preview');
  assert.equal(new URL(page.url()).pathname, '/blog/new', 'the preview left the writing page');
  assert.ok(await page.locator('.preview strong', { hasText: 'washed' }).count(), 'the preview does not show the rendered body');
  assert.equal(await page.locator('[name="tags"]').inputValue(), 'Indigo, Denim', 'the preview lost the tags');

  step('save the draft, with the picture chosen again');
  form = writeForm(page);
  await form.locator('input[type="file"][name="file"]').setInputFiles(cover);
  await press(page, 'draft');
  const postPath = new URL(page.url()).pathname;
  assert.match(postPath, new RegExp(`^/blog/${me.username}/indigo-three-ways-${token}$`));
  const draftCover = page.locator('picture.post__cover img');
  assert.equal(await draftCover.count(), 1, 'the draft shows no cover picture');
  assert.ok(await loaded(draftCover), 'the cover picture does not load');
  const rss = async () => (await me.context.request.get(`${server.url}/blog/feed.rss`)).text();
  assert.ok(!(await rss()).includes(token), 'the feed carries a draft');

  step('publish it from the edit page; the cover stays');
  await goto(page, `${postPath}/edit`);
  assert.equal(await page.locator('.write-form__current img').count(), 1, 'the edit page does not show the current cover');
  await checks.check(page, 'edit');
  await press(page, 'publish');
  assert.equal(new URL(page.url()).pathname, postPath);
  assert.ok(await loaded(page.locator('picture.post__cover img')), 'the published post lost its cover');
  const og = await page.locator('meta[property="og:image"]').getAttribute('content');
  assert.match(og || '', new RegExp(`^${server.url}/media/covers/`), 'og:image is not an absolute cover URL');
  assert.equal(await page.locator('meta[name="twitter:card"]').getAttribute('content'), 'summary_large_image');
  assert.equal(await page.locator('.post__tags a[href="/blog/tag/indigo"]').count(), 1, 'the post does not link its tag');
  await checks.check(page, 'post');

  step('the feed carries it');
  const feed = await rss();
  assert.ok(feed.includes(`<title>${title}</title>`), 'the RSS feed has no entry with the title');
  assert.ok(feed.includes(`<link>${server.url}${postPath}</link>`), 'the RSS entry does not link the post');

  step('a visitor finds it on the blog, its tag page, the member blog and the month archive');
  const visitor = await browser.newContext({ viewport: DESKTOP });
  const v = checks.watch(await visitor.newPage());
  await goto(v, '/blog');
  const card = v.locator('.post-card', { has: v.locator(`a[href="${postPath}"]`) });
  assert.equal(await card.count(), 1, '/blog does not list the post');
  assert.ok(await loaded(card.locator('picture img')), 'the card shows no cover picture');
  assert.equal(await v.locator('link[rel="alternate"][type="application/rss+xml"]').count(), 1, '/blog names no RSS feed');
  await checks.check(v, 'index');
  await card.locator('a[href="/blog/tag/denim"]').click();
  await v.waitForLoadState('load');
  assert.equal(new URL(v.url()).pathname, '/blog/tag/denim', 'the card\'s tag link does not open the tag page');
  assert.equal(await v.locator(`a[href="${postPath}"]`).count() > 0, true, 'the tag page does not list the post');
  await checks.check(v, 'tag');
  await goto(v, `/blog/${me.username}`);
  const month = v.locator('.archive-months a').first();
  assert.equal(await month.count(), 1, 'the member blog has no month list');
  await checks.check(v, 'member');
  await month.click();
  await v.waitForLoadState('load');
  assert.match(new URL(v.url()).pathname, new RegExp(`^/blog/${me.username}/archive/\\d{4}/\\d{2}$`));
  assert.equal(await v.locator(`a[href="${postPath}"]`).count() > 0, true, 'the month archive does not list the post');
  await checks.check(v, 'archive');

  step('edit the title: same address, new title everywhere');
  const newTitle = `Indigo, four ways ${token}`;
  await goto(page, `${postPath}/edit`);
  await writeForm(page).locator('[name="title"]').fill(newTitle);
  await press(page, 'publish');
  assert.equal(new URL(page.url()).pathname, postPath, 'editing the title moved the post');
  assert.equal((await page.locator('h1').textContent()).trim(), newTitle);
  assert.ok(await loaded(page.locator('picture.post__cover img')), 'editing the title lost the cover');
  assert.ok((await rss()).includes(`<title>${newTitle}</title>`), 'the feed does not carry the new title');

  await visitor.close();
  await me.context.close();
  checks.assertClean();
});
