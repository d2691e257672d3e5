// Forums in real Chromium, one journey through the parts members use:
//  - staff make a category and a forum on /forums/manage;
//  - a member starts a topic; another follows it by email, replies quoting
//    the opening post, and edits the reply;
//  - the first member sees the topic marked unread, follows the "New" link
//    to the reply, and votes on it in place (JavaScript); a third member
//    votes without JavaScript (a plain form, back at the post);
//  - the follower gets an email when the topic starter answers;
//  - the moderator locks the topic, and members can no longer reply.
// Every page is screenshotted at phone and desktop widths and checked by axe.
//
// The tests hold on to what is meant to stay: URLs, form field names, post
// anchors (post-{id}), the .score and .vote classes, labels and roles.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, PageChecks, DESKTOP, formFor, fill, submit, uniqueName, createMember,
} from './lib.mjs';

const PASSWORD = 'Tweed-Lapel-Buttonhole-58';

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'forums' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const step = (msg) => console.log(`[e2e] ${msg}`);
const pathOf = (page) => new URL(page.url()).pathname;

async function goto(page, path) {
  const res = await page.goto(`${server.url}${path}`, { waitUntil: 'load' });
  assert.ok(res, `no response for ${path}`);
  assert.ok(res.status() < 400, `${path} answered ${res.status()}`);
  return res;
}

/** Text content, folded (not innerText: it does not depend on the stylesheet). */
async function textOf(locator) {
  return ((await locator.textContent()) || '').replace(/\s+/g, ' ').trim();
}

/** A member made from the command line, logged in through the form in a context of their own. */
async function member(checks, prefix, { role = 'member', javaScriptEnabled = true } = {}) {
  const username = uniqueName(prefix);
  const email = `${username}@example.com`;
  await createMember(server, { username, email, password: PASSWORD, role });
  const context = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled });
  // A missing element fails the step in seconds, naming it, not at the test's timeout.
  context.setDefaultTimeout(15_000);
  const page = checks.watch(await context.newPage());
  await goto(page, '/accounts/login');
  const form = await formFor(page, '/accounts/login', 'login');
  await fill(form, 'login', /user ?name|e-?mail|log ?in/i, username);
  await fill(form, 'password', /password/i, PASSWORD);
  const res = await submit(page, form, /log ?in/i);
  assert.equal(res.status(), 303, `logging in as ${username} answered ${res.status()}`);
  step(`${role} ${username} logged in (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`);
  return { context, page, username, email };
}

/** Press a button that submits its form the ordinary way; returns the POST's response. */
async function press(page, button, what) {
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest(), { timeout: 20_000 });
  await button.click();
  const res = await posted;
  await page.waitForLoadState('load');
  assert.ok(res.status() < 400, `${what} answered ${res.status()}`);
  return res;
}

/** The article of post number `n` on the current topic page. */
function post(page, n) {
  return page.locator('article.forum-post').filter({ has: page.locator('.forum-post__number', { hasText: new RegExp(`^#${n}$`) }) });
}

test('forums: start a topic, quote, edit, follow, unread, vote, lock', { timeout: 280_000 }, async () => {
  const checks = new PageChecks('forums');
  const token = uniqueName('t');
  const staff = await member(checks, 'studio', { role: 'staff' });
  const ava = await member(checks, 'ava');
  const ben = await member(checks, 'ben');
  const mod = await member(checks, 'mod', { role: 'moderator' });
  // Pages without JavaScript are not screenshotted: axe and the checks run scripts.
  const plain = await member(checks, 'cleo', { javaScriptEnabled: false });

  try {
    step('staff make a category and a forum');
    await goto(staff.page, '/forums/manage');
    let form = staff.page.getByRole('form', { name: 'New category' });
    await fill(form, 'name', /name/i, 'Wardrobe');
    await fill(form, 'description', /description/i, 'Clothes, shoes and how to keep them.');
    await press(staff.page, form.getByRole('button'), 'making a category');
    form = staff.page.getByRole('form', { name: 'New forum' });
    await fill(form, 'name', /name/i, 'Style advice');
    await fill(form, 'slug', /address/i, 'style-advice');
    await fill(form, 'description', /description/i, 'Ask before you buy; show what you made of it.');
    await press(staff.page, form.getByRole('button'), 'making a forum');
    await checks.check(staff.page, 'manage');

    step('a member starts a topic');
    await goto(ava.page, '/forums');
    await checks.check(ava.page, 'index-empty');
    await ava.page.getByRole('link', { name: 'Style advice' }).first().click();
    await ava.page.waitForLoadState('load');
    assert.equal(pathOf(ava.page), '/forums/style-advice');
    await ava.page.getByRole('link', { name: 'New topic' }).click();
    await ava.page.waitForLoadState('load');
    const title = `Tweed jacket with jeans? ${token}`;
    form = await formFor(ava.page, '/forums/style-advice/new', 'title');
    await fill(form, 'title', /title/i, title);
    await fill(form, 'body', /post/i, `A **brown herringbone** jacket, dark *selvedge* denim.\n\nToo much texture? ${token}`);
    await checks.check(ava.page, 'new-topic');
    await press(ava.page, form.getByRole('button', { name: 'Post topic' }), 'posting a topic');
    const topicPath = pathOf(ava.page);
    assert.match(topicPath, /^\/forums\/t\/\d+-tweed-jacket-with-jeans/, `the new topic is at ${topicPath}`);
    const topicId = Number(/^\/forums\/t\/(\d+)/.exec(topicPath)[1]);
    assert.equal(await textOf(ava.page.getByRole('heading', { level: 1 })), title);
    assert.ok(await post(ava.page, 1).locator('strong', { hasText: 'brown herringbone' }).count(), 'the markdown is rendered');

    step('another member follows the topic and replies, quoting it');
    await goto(ben.page, topicPath);
    const follow = ben.page.getByRole('button', { name: /^Follow/ });
    assert.equal(await follow.getAttribute('aria-pressed'), 'false');
    await press(ben.page, follow, 'following the topic');
    assert.equal(await ben.page.getByRole('button', { name: /^Following/ }).getAttribute('aria-pressed'), 'true', 'the button shows the topic is followed');
    await post(ben.page, 1).getByRole('link', { name: /^Quote/ }).click();
    await ben.page.waitForLoadState('load');
    const replyBox = ben.page.getByLabel('Your reply');
    const quoted = await replyBox.inputValue();
    assert.match(quoted, new RegExp(`^> \\*\\*@${ava.username}\\*\\* \\[wrote\\]\\(/forums/p/\\d+\\):`), `the reply box starts with the quote: ${quoted.slice(0, 80)}`);
    await replyBox.fill(`${quoted}Not at all: keep the shirt plain. ${token}`);
    await press(ben.page, ben.page.getByRole('button', { name: 'Post reply' }), 'replying');
    const reply = post(ben.page, 2);
    assert.equal(await reply.count(), 1, 'the reply is post #2');
    assert.ok(await reply.locator('blockquote', { hasText: 'brown herringbone' }).count(), 'the quote shows as a blockquote');
    const replyId = Number(/^post-(\d+)$/.exec(await reply.getAttribute('id'))[1]);

    step('the reply is edited');
    await reply.getByRole('link', { name: /^Edit/ }).click();
    await ben.page.waitForLoadState('load');
    assert.equal(pathOf(ben.page), `/forums/p/${replyId}/edit`);
    await checks.check(ben.page, 'edit-post');
    form = await formFor(ben.page, `/forums/p/${replyId}/edit`, 'body');
    const body = await form.locator('[name="body"]').inputValue();
    await form.locator('[name="body"]').fill(body.replace('keep the shirt plain', 'keep the shirt plain and white'));
    await press(ben.page, form.getByRole('button', { name: 'Save changes' }), 'saving the edit');
    const edited = ben.page.locator(`#post-${replyId}`);
    assert.match(await textOf(edited), /plain and white/, 'the edit shows');
    assert.match(await textOf(edited.locator('.forum-post__edited')), /^edited /, 'the post says it was edited');

    step('the topic starter sees it unread and follows the New link');
    await goto(ava.page, '/forums');
    await checks.check(ava.page, 'index');
    await goto(ava.page, '/forums/style-advice');
    const row = ava.page.locator('.topic-row', { hasText: title });
    assert.match((await row.getAttribute('class')) || '', /is-unread/, 'the topic is marked unread');
    await checks.check(ava.page, 'forum-unread');
    await row.getByRole('link', { name: /^New/ }).click();
    await ava.page.waitForLoadState('load');
    assert.equal(new URL(ava.page.url()).hash, `#post-${replyId}`, 'the New link lands on the first unread post');

    step('she votes on the reply in place');
    const vote = ava.page.locator(`#post-${replyId} .vote`);
    assert.equal(await textOf(vote.locator('.score')), '0');
    const mark = `mark-${Date.now()}`;
    await ava.page.evaluate((m) => { window.__mark = m; }, mark);
    const voted = ava.page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/votes/forum_post/${replyId}`));
    await vote.getByRole('button', { name: 'Upvote post #2' }).click();
    const answer = await voted;
    assert.equal(answer.request().isNavigationRequest(), false, 'the vote was posted in the background');
    assert.match(answer.headers()['content-type'] || '', /json/);
    await ava.page.waitForFunction((id) => document.querySelector(`#post-${id} .score`)?.textContent.trim() === '1', replyId);
    assert.equal(await ava.page.evaluate(() => window.__mark), mark, 'the page was not reloaded');
    assert.equal(await vote.getByRole('button', { name: 'Upvote post #2' }).getAttribute('aria-pressed'), 'true');
    await checks.check(ava.page, 'topic-voted');

    step('a member votes without JavaScript and comes back to the post');
    await goto(plain.page, topicPath);
    const plainVote = plain.page.locator(`#post-${replyId} .vote`);
    const res = await press(plain.page, plainVote.getByRole('button', { name: 'Upvote post #2' }), 'voting without JavaScript');
    assert.equal(res.status(), 303);
    assert.equal(new URL(plain.page.url()).hash, `#post-${replyId}`, 'back at the post');
    assert.equal(await textOf(plain.page.locator(`#post-${replyId} .score`)), '2');

    step('the follower is emailed when the topic starter answers');
    const replyForm = await formFor(ava.page, `/forums/t/${topicId}/reply`, 'body');
    await replyForm.locator('[name="body"]').fill(`Thanks, plain white it is. ${token}`);
    await press(ava.page, replyForm.getByRole('button', { name: 'Post reply' }), 'answering');
    const mail = await server.nextEmail({ to: ben.email });
    assert.ok(mail.subject.includes('Tweed jacket'), `the email's subject names the topic: ${mail.subject}`);
    assert.ok(mail.links.some((l) => l.includes('/forums/')), 'the email links to the topic');

    step('the moderator locks the topic');
    await goto(mod.page, topicPath);
    await mod.page.locator('summary', { hasText: 'Moderate' }).click();
    await press(mod.page, mod.page.getByRole('button', { name: 'Lock' }), 'locking');
    assert.ok(await mod.page.locator('.topic-head .badge', { hasText: 'Locked' }).count(), 'the topic shows it is locked');
    await checks.check(mod.page, 'topic-moderator');
    await goto(ben.page, topicPath);
    assert.equal(await ben.page.getByRole('button', { name: 'Post reply' }).count(), 0, 'no reply form on a locked topic');
    assert.match(await textOf(ben.page.locator('#reply')), /locked/);
    await checks.check(ben.page, 'topic-locked');

    step('the forum ordered by top score, and the page a visitor sees');
    await goto(ben.page, '/forums/style-advice?sort=top');
    assert.equal(await ben.page.locator('.forum-sort [aria-current="true"]').textContent(), 'Top');
    await checks.check(ben.page, 'forum-top');
    const visitor = checks.watch(await (await browser.newContext({ viewport: DESKTOP })).newPage());
    await goto(visitor, topicPath);
    assert.ok(await visitor.getByRole('link', { name: 'Log in to vote' }).count(), 'visitors are asked to log in to vote');
    await checks.check(visitor, 'topic-visitor');
    checks.assertClean();
  } catch (err) {
    // Say what failed now: closing the browser contexts afterwards may be slow.
    server.failed = true;
    console.log(`[e2e] failed: ${err.stack || err}`);
    throw err;
  } finally {
    for (const m of [staff, ava, ben, mod, plain]) await m.context.close();
  }
});
