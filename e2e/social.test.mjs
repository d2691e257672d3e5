// Member blogs, threaded comments and votes in real Chromium:
//  - a member writes a post: preview (nothing saved), draft (only they can
//    see it), publish, change the title (same address), change the address
//    (the old one still leads there);
//  - another member votes on it (up, down, taken back) and comments; the
//    author replies inside that comment; the commenter deletes theirs and
//    "[deleted]" keeps the thread's shape. Once with JavaScript (votes and
//    comments update in place) and once without (plain forms, redirects);
//  - a visitor sees "Log in" instead of the forms.
//
// The page structure is being restyled, so the tests hold on to what is
// meant to stay: URLs, form field names, element ids (comment-{id},
// comments), the .score and .vote classes, labels and roles.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, PageChecks, DESKTOP, formFor, field, fill, submit,
  mainText, logoutButton, uniqueName,
} from './lib.mjs';

const PASSWORD = 'Darning-Needle-Thimble-73';
const SIGNUP_BUTTON = /sign ?up|create( an| my)? account|join|register/i;
const LOGIN_BUTTON = /log ?in|sign ?in/i;
const COUNT_HEADING = /^\s*(\d+) comments?\s*$/;

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'social' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function guarded(fn) {
  try {
    await fn();
  } catch (err) {
    if (server) server.failed = true;
    throw err;
  }
}

const step = (msg) => console.log(`[e2e] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pathOf = (page) => new URL(page.url()).pathname;

async function goto(page, pathOrUrl) {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${server.url}${pathOrUrl}`;
  const res = await page.goto(url, { waitUntil: 'load' });
  assert.ok(res, `no response for ${url}`);
  return res;
}

/** Poll `fn` until it returns true; fail with `what` (and the last value seen). */
async function until(fn, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last === true) return;
    if (Date.now() > deadline) assert.fail(`${what} (after ${timeoutMs / 1000}s${last !== false && last !== undefined ? `; last seen: ${JSON.stringify(last)}` : ''})`);
    await sleep(100);
  }
}

async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(what)), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Text content (not innerText: it does not depend on what the stylesheet hides), folded. */
async function textOf(locator) {
  return ((await locator.textContent()) || '').replace(/\s+/g, ' ').trim();
}

// ---------------------------------------------------------------------------
// Members

async function shownErrors(page) {
  return page.locator('.field-error, .form-error').evaluateAll((els) => els
    .filter((e) => !e.hidden && e.textContent.trim())
    .map((e) => e.textContent.trim()));
}

async function accepted(page, res, what) {
  if (res.status() < 400) return;
  const errors = await shownErrors(page).catch(() => []);
  assert.fail(`${what} answered ${res.status()}${errors.length ? `: ${errors.join(' | ')}` : ` (${(await mainText(page)).slice(0, 200)})`}`);
}

async function logIn(page, login) {
  const form = await formFor(page, '/accounts/login', 'login');
  await fill(form, 'login', /user ?name|e-?mail|log ?in/i, login);
  await fill(form, 'password', /password/i, PASSWORD);
  const res = await submit(page, form, LOGIN_BUTTON);
  await accepted(page, res, `logging in as ${login}`);
  assert.ok(await logoutButton(page).count(), `after logging in as ${login} the header has no Log out button`);
  return res;
}

/**
 * A new member in a browser context of their own, through the real sign-up,
 * the confirmation link in the outbox, and the log-in form.
 */
async function newMember(checks, prefix, { javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled });
  const page = checks.watch(await context.newPage());
  const username = uniqueName(prefix);
  const email = `${username}@example.com`;

  await goto(page, '/accounts/signup');
  const form = await formFor(page, '/accounts/signup', 'username');
  await fill(form, 'username', /user ?name/i, username);
  await fill(form, 'email', /e-?mail/i, email);
  await fill(form, 'password', /password/i, PASSWORD);
  await accepted(page, await submit(page, form, SIGNUP_BUTTON), `signing up ${username}`);

  const mail = await server.nextEmail({ to: email });
  assert.match(mail.firstLink || '', /\/accounts\/confirm\/[^/?#\s]+/, `the email to ${email} has no confirmation link`);
  await accepted(page, await goto(page, mail.firstLink), `confirming ${email}`);

  await goto(page, '/accounts/login');
  await logIn(page, username);
  step(`member ${username} signed up and logged in (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`);
  return { context, page, username };
}

async function visitorContext(checks, { javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled });
  const page = checks.watch(await context.newPage());
  return { context, page };
}

// ---------------------------------------------------------------------------
// Pressing buttons

/** Click `button`, which submits a form the ordinary way; wait for the page that follows. Returns the POST's response. */
async function pressAndLoad(page, button, what) {
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest(), { timeout: 20_000 });
  const loaded = page.waitForEvent('load', { timeout: 20_000 });
  await button.click();
  const res = await posted;
  await loaded;
  await accepted(page, res, what);
  return res;
}

/** Leave a mark in the page's window: it survives only if the page is not reloaded. */
async function markPage(page) {
  const mark = `mark-${Math.random().toString(36).slice(2)}`;
  await page.evaluate((m) => { window.__coterieE2eMark = m; }, mark);
  return { mark, url: page.url() };
}

async function assertNoPageLoad(page, { mark, url }, what) {
  assert.equal(page.url(), url, `${what}: the address changed from ${url} to ${page.url()} (a page load, not an update in place)`);
  let still;
  try {
    still = await page.evaluate(() => window.__coterieE2eMark);
  } catch (err) {
    assert.fail(`${what}: the page was replaced while checking it (${err.message.split('\n')[0]})`);
  }
  assert.equal(still, mark, `${what}: the page was reloaded (the mark left in window is gone)`);
}

/**
 * Click `button` with JavaScript on: the script should post in the
 * background (asking for JSON) and leave the page where it is. Returns the
 * POST's response.
 */
async function pressInPlace(page, button, urlPart, what) {
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(urlPart), { timeout: 20_000 });
  await button.click();
  const res = await posted;
  assert.equal(res.request().isNavigationRequest(), false,
    `${what}: the form was submitted as a page load (answer ${res.status()}), not posted in the background by the page's script`);
  assert.ok(res.ok(), `${what}: the background POST answered ${res.status()}`);
  assert.match(res.headers()['content-type'] || '', /json/i, `${what}: the answer is not JSON (${res.headers()['content-type']})`);
  return res;
}

// ---------------------------------------------------------------------------
// Blog

function writeForm(page) {
  return page.locator('form').filter({ has: page.locator('[name="title"]') }).filter({ has: page.locator('[name="body"]') }).first();
}

/** A button of the writing form by the `action` it sends; its name as the brief promises. */
async function actionButton(form, value, name) {
  const button = form.locator(`button[name="action"][value="${value}"]`);
  assert.equal(await button.count(), 1, `the writing form has no single button with name=action value=${value}`);
  const label = ((await button.textContent()) || '').trim();
  assert.match(label, name, `the action=${value} button is labelled "${label}"`);
  return button;
}

/** Write a post on /blog/new and press Publish; returns { path, slug }. */
async function publishPost(author, { title, body }) {
  await goto(author.page, '/blog/new');
  const form = writeForm(author.page);
  await fill(form, 'title', /title/i, title);
  await fill(form, 'body', /post|body/i, body);
  await pressAndLoad(author.page, await actionButton(form, 'publish', /^Publish$/), 'publishing a post');
  const path = pathOf(author.page);
  assert.match(path, new RegExp(`^/blog/${author.username}/[a-z0-9-]+$`), `publishing did not land on the post's page: ${path}`);
  step(`published ${path}`);
  return { path, slug: path.split('/').pop() };
}

/** Links to `path` in the main content, optionally with `text`. */
function linksTo(page, path, text) {
  const links = page.locator(`main a[href="${path}"], main a[href="${server.url}${path}"]`);
  return text ? links.filter({ hasText: text }) : links;
}

async function postTitle(page) {
  return textOf(page.getByRole('heading', { level: 1 }).first());
}

// ---------------------------------------------------------------------------
// Votes and comments

/** The post's own vote box (not a comment's). */
function postVote(page) {
  return page.locator('.vote:not([id^="comment-"] .vote)').first();
}

async function scoreOf(vote) {
  assert.equal(await vote.locator('.score').count(), 1, 'the vote box has no single .score element');
  return textOf(vote.locator('.score'));
}

/** "N comments" in the thread's heading, as a number (checking the plural). */
async function commentCount(page) {
  const heading = page.getByRole('heading', { name: COUNT_HEADING });
  assert.equal(await heading.count(), 1, `no single heading "N comments" on ${pathOf(page)}`);
  const text = await textOf(heading);
  const n = Number(COUNT_HEADING.exec(text)[1]);
  assert.equal(text, `${n} ${n === 1 ? 'comment' : 'comments'}`, `the heading reads "${text}"`);
  return n;
}

async function pressedState(vote) {
  const up = vote.getByRole('button', { name: 'Upvote this post' });
  const down = vote.getByRole('button', { name: 'Downvote this post' });
  return `${await up.getAttribute('aria-pressed')}/${await down.getAttribute('aria-pressed')}`;
}

/** What a fresh load of `path` shows `context`'s member: the post's score and their pressed buttons. */
async function reloadedVote(checks, context, path) {
  const page = checks.watch(await context.newPage());
  try {
    await goto(page, path);
    const vote = postVote(page);
    return { score: await scoreOf(vote), pressed: await pressedState(vote) };
  } finally {
    await page.close();
  }
}

/** The comment whose text holds `token`: { id, li }. Replies sit inside their parent, so take the innermost. */
async function commentWith(page, token) {
  const items = page.locator('li[id^="comment-"]').filter({ hasText: token });
  const n = await items.count();
  assert.ok(n > 0, `no comment element (li id="comment-N") holds "${token}" on ${pathOf(page)}`);
  const li = items.nth(n - 1);
  const id = Number(/^comment-(\d+)$/.exec((await li.getAttribute('id')) || '')?.[1]);
  assert.ok(id > 0, `the comment holding "${token}" has id="${await li.getAttribute('id')}"`);
  return { id, li: page.locator(`#comment-${id}`) };
}

/** The text of a comment's own part, without its replies. */
async function ownText(li) {
  return li.evaluate((el) => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll('[id^="comment-"]').forEach((n) => { if (/^comment-\d+$/.test(n.id)) n.remove(); });
    return copy.textContent.replace(/\s+/g, ' ').trim();
  });
}

// ---------------------------------------------------------------------------
// 1. The blog

test('blog: preview, draft only the author sees, publish, edit the title, change the address', { timeout: 240_000 }, () => guarded(async () => {
  const checks = new PageChecks('social-blog');
  const token = uniqueName('t');
  const title = `Darning socks the slow way ${token}`;
  const body = `## Heel first\n\nUse **woollen thread** and *patience*.\n\n- a darning egg\n- a blunt needle\n\nMore at [the guild](https://example.com/guild). ${token}`;
  const a = await newMember(checks, 'writer');
  const visitor = await visitorContext(checks);

  try {
    step('the writing page');
    let res = await goto(a.page, '/blog/new');
    assert.equal(res.status(), 200);
    let form = writeForm(a.page);
    assert.equal(await form.count(), 1, '/blog/new has no form with title and body fields');
    await fill(form, 'title', /title/i, title);
    await fill(form, 'body', /post|body/i, body);

    step('preview: rendered markdown, nothing saved');
    res = await pressAndLoad(a.page, await actionButton(form, 'preview', /^Preview$/), 'previewing');
    assert.equal(res.status(), 200, `the preview answered ${res.status()} (a redirect would mean it saved something)`);
    assert.equal(pathOf(a.page), '/blog/new', 'the preview left the writing page');
    const preview = a.page.getByRole('region', { name: /preview/i });
    assert.equal(await preview.count(), 1, 'the preview has no region labelled "Preview"');
    assert.ok(await preview.locator('strong', { hasText: 'woollen thread' }).count(), 'the preview does not render **woollen thread** as <strong>');
    assert.ok(await preview.locator('em', { hasText: 'patience' }).count(), 'the preview does not render *patience* as <em>');
    assert.ok(await preview.getByRole('heading', { name: 'Heel first' }).count(), 'the preview does not render "## Heel first" as a heading');
    assert.equal(await preview.getByRole('listitem').filter({ hasText: 'a darning egg' }).count(), 1, 'the preview does not render the list');
    assert.ok(await preview.locator('a[href="https://example.com/guild"]').count(), 'the preview does not render the link');
    assert.ok(!(await textOf(preview)).includes('**'), 'the preview shows raw markdown');
    assert.ok((await textOf(preview)).includes(title), 'the preview does not show the title');
    form = writeForm(a.page);
    assert.equal(await (await field(form, 'title')).inputValue(), title, 'after the preview the title field lost its text');
    assert.equal(await (await field(form, 'body')).inputValue(), body, 'after the preview the body field lost its text');
    const ownBlog = await a.context.request.get(`${server.url}/blog/${a.username}`);
    assert.equal(ownBlog.status(), 200);
    assert.ok(!(await ownBlog.text()).includes(token), 'after a preview the post is listed on the author\'s blog: the preview saved it');
    await checks.check(a.page, 'write-preview');

    step('save a draft');
    res = await pressAndLoad(a.page, await actionButton(writeForm(a.page), 'draft', /^Save draft$/), 'saving a draft');
    const postPath = pathOf(a.page);
    const slug = postPath.split('/').pop();
    assert.equal(postPath, `/blog/${a.username}/darning-socks-the-slow-way-${token}`,
      'the draft is not at /blog/{username}/{slug of the title} (if it ends in -2, the preview saved a post too)');
    await goto(a.page, postPath); // again, without the flash message
    assert.equal(await postTitle(a.page), title);
    assert.match(await mainText(a.page), /only you can see/i, 'the draft page does not say that only its author can see it');
    assert.ok(await a.page.locator('main strong', { hasText: 'woollen thread' }).count(), 'the draft does not show the rendered body');
    await checks.check(a.page, 'draft');
    await goto(a.page, `/blog/${a.username}`);
    assert.ok(await linksTo(a.page, postPath, title).count(), 'the author\'s own blog page does not list the draft for them');

    step('a visitor cannot see the draft');
    res = await goto(visitor.page, postPath);
    assert.equal(res.status(), 404, `a visitor opening the draft got ${res.status()}, not 404`);
    assert.ok(!(await mainText(visitor.page)).includes(token), 'the 404 page shows the draft');
    for (const list of ['/blog', `/blog/${a.username}`]) {
      await goto(visitor.page, list);
      assert.equal(await linksTo(visitor.page, postPath).count(), 0, `${list} lists the draft for a visitor`);
      assert.ok(!(await mainText(visitor.page)).includes(token), `${list} shows the draft's title to a visitor`);
    }

    step('edit the draft and publish it');
    await goto(a.page, postPath);
    const edit = a.page.locator(`a[href="${postPath}/edit"], a[href="${server.url}${postPath}/edit"]`);
    assert.equal(await edit.count(), 1, `the draft page has no single Edit link to ${postPath}/edit`);
    assert.match(await textOf(edit), /^Edit$/, 'the edit link is not called "Edit"');
    await edit.click();
    await a.page.waitForURL(`**${postPath}/edit`);
    form = writeForm(a.page);
    assert.equal(await (await field(form, 'title')).inputValue(), title, 'the edit form does not hold the title');
    assert.equal(await (await field(form, 'body')).inputValue(), body, 'the edit form does not hold the body');
    await pressAndLoad(a.page, await actionButton(form, 'publish', /^Publish$/), 'publishing the draft');
    assert.equal(pathOf(a.page), postPath, 'publishing moved the post');
    assert.doesNotMatch(await mainText(a.page), /only you can see/i, 'the published post still says only its author can see it');

    step('a visitor finds it on /blog and /blog/{username}');
    res = await goto(visitor.page, postPath);
    assert.equal(res.status(), 200, `a visitor opening the published post got ${res.status()}`);
    assert.equal(await postTitle(visitor.page), title);
    assert.ok(await visitor.page.locator('main strong', { hasText: 'woollen thread' }).count(), 'the published post does not show the rendered body');
    await goto(visitor.page, '/blog');
    assert.equal(await linksTo(visitor.page, postPath, title).count(), 1, '/blog does not link to the published post with its title');
    await checks.check(visitor.page, 'blog');
    await goto(visitor.page, `/blog/${a.username}`);
    assert.equal(await linksTo(visitor.page, postPath, title).count(), 1, `/blog/${a.username} does not link to the published post with its title`);
    await checks.check(visitor.page, 'member-blog');

    step('a new title keeps the address');
    const title2 = `Darning socks, the slow and steady way ${token}`;
    await goto(a.page, `${postPath}/edit`);
    form = writeForm(a.page);
    assert.equal(await (await field(form, 'slug', /web address/i)).inputValue(), slug, 'the "Web address" field does not hold the post\'s slug');
    await fill(form, 'title', /title/i, title2);
    await pressAndLoad(a.page, await actionButton(form, 'publish', /^Publish$/), 'saving the new title');
    assert.equal(pathOf(a.page), postPath, 'changing only the title changed the address');
    res = await goto(visitor.page, postPath);
    assert.equal(res.status(), 200);
    assert.equal(await postTitle(visitor.page), title2, 'a visitor does not see the new title at the same address');
    await goto(visitor.page, `/blog/${a.username}`);
    assert.equal(await linksTo(visitor.page, postPath, title2).count(), 1, 'the member\'s blog does not list the new title');

    step('a new web address; the old one leads there');
    const slug2 = `slow-darning-${token}`;
    await goto(a.page, `${postPath}/edit`);
    form = writeForm(a.page);
    await fill(form, 'slug', /web address/i, slug2);
    await pressAndLoad(a.page, await actionButton(form, 'publish', /^Publish$/), 'changing the address');
    const newPath = `/blog/${a.username}/${slug2}`;
    assert.equal(pathOf(a.page), newPath, 'changing the web address did not move the post there');
    res = await goto(visitor.page, postPath);
    assert.equal(res.status(), 200, `the old address answered ${res.status()} after the redirect`);
    assert.equal(pathOf(visitor.page), newPath, 'the old address does not lead to the new one');
    assert.ok(res.request().redirectedFrom(), 'the old address was not redirected');
    assert.equal(await postTitle(visitor.page), title2);

    checks.assertClean();
  } finally {
    await a.context.close();
    await visitor.context.close();
  }
}));

// ---------------------------------------------------------------------------
// 2. Votes and a threaded discussion, with and without JavaScript

async function discussion(js) {
  const checks = new PageChecks(js ? 'social-thread' : 'social-thread-nojs');
  // axe does not run in a page with JavaScript off (the page closes).
  const axe = js;
  const token = uniqueName('d');
  const a = await newMember(checks, js ? 'author' : 'nauthor', { javaScriptEnabled: js });
  const b = await newMember(checks, js ? 'reader' : 'nreader', { javaScriptEnabled: js });

  try {
    const post = await publishPost(a, {
      title: `Mending a cardigan elbow ${token}`,
      body: `Patch from the inside, then **duplicate stitch** over the thin part. ${token}`,
    });

    step('the reader opens the post');
    let res = await goto(b.page, post.path);
    assert.equal(res.status(), 200);
    let vote = postVote(b.page);
    const form = vote.locator('form[action^="/votes/blog_post/"]');
    assert.equal(await form.count(), 1, 'the post\'s .vote holds no form posting to /votes/blog_post/{id}');
    const postId = Number(/^\/votes\/blog_post\/(\d+)$/.exec(await form.getAttribute('action'))?.[1]);
    assert.ok(postId > 0, `the vote form posts to ${await form.getAttribute('action')}`);
    assert.equal(await scoreOf(vote), '0', 'a new post does not start at 0');
    assert.equal(await pressedState(vote), 'false/false', 'a member who has not voted sees a pressed vote button');
    assert.equal(await commentCount(b.page), 0);

    // Each step: the button to press, then the score and the pressed buttons (up/down) after it.
    const votes = [
      { button: 'Upvote this post', score: '1', pressed: 'true/false', what: 'an upvote' },
      { button: 'Downvote this post', score: '-1', pressed: 'false/true', what: 'changing to a downvote' },
      { button: 'Downvote this post', score: '0', pressed: 'false/false', what: 'taking the downvote back' },
    ];
    for (const v of votes) {
      step(`vote: ${v.what}`);
      if (js) {
        const mark = await markPage(b.page);
        const answer = await pressInPlace(b.page, postVote(b.page).getByRole('button', { name: v.button }), `/votes/blog_post/${postId}`, v.what);
        assert.equal(String((await answer.json()).score), v.score, `${v.what}: the server's answer has the wrong score`);
        await until(async () => { const s = await scoreOf(postVote(b.page)); return s === v.score || s; }, `${v.what}: the score on the page did not become ${v.score}`);
        await assertNoPageLoad(b.page, mark, v.what);
      } else {
        res = await pressAndLoad(b.page, postVote(b.page).getByRole('button', { name: v.button }), v.what);
        assert.ok(res.status() >= 300 && res.status() < 400, `${v.what}: the vote answered ${res.status()}, not a redirect`);
        assert.equal(pathOf(b.page), post.path, `${v.what}: the vote did not lead back to the post`);
        assert.equal(await scoreOf(postVote(b.page)), v.score, `${v.what}: the score is not ${v.score}`);
      }
      assert.equal(await pressedState(postVote(b.page)), v.pressed, `${v.what}: aria-pressed of up/down is wrong`);
      const fresh = await reloadedVote(checks, b.context, post.path);
      assert.deepEqual(fresh, { score: v.score, pressed: v.pressed }, `${v.what}: a fresh load of the post shows something else`);
    }

    step('the reader comments');
    const commentToken = `c${token}`;
    const commentBody = `The **duplicate stitch** tip saved my favourite cardigan. ${commentToken}`;
    let commentForm = b.page.locator('form[data-comment-form]:not(:has([name="parent"]))');
    assert.equal(await commentForm.count(), 1, 'the post has no single comment form ([data-comment-form] without a parent)');
    await fill(commentForm, 'body', 'Add a comment', commentBody);
    const postButton = commentForm.getByRole('button', { name: 'Post comment' });
    let answerId;
    if (js) {
      const mark = await markPage(b.page);
      const answer = await pressInPlace(b.page, postButton, `/comments/blog_post/${postId}`, 'posting a comment');
      answerId = (await answer.json()).id;
      await until(async () => (await b.page.locator(`#comment-${answerId}`).count()) === 1, `the new comment #comment-${answerId} did not appear in place`);
      await until(async () => { const n = await commentCount(b.page); return n === 1 || n; }, 'the heading did not become "1 comment"');
      await assertNoPageLoad(b.page, mark, 'posting a comment');
      assert.equal(await (await field(commentForm, 'body')).inputValue(), '', 'the comment form still holds the text after posting');
    } else {
      await pressAndLoad(b.page, postButton, 'posting a comment');
      assert.equal(pathOf(b.page), post.path, 'posting a comment did not lead back to the post');
    }
    const bc = await commentWith(b.page, commentToken);
    if (js) assert.equal(bc.id, answerId, 'the comment on the page is not the one the server created');
    else assert.equal(new URL(b.page.url()).hash, `#comment-${bc.id}`, 'after posting, the page is not at the new comment');
    assert.ok(await bc.li.locator('strong', { hasText: 'duplicate stitch' }).count(), 'the comment\'s markdown is not rendered');
    assert.equal(await commentCount(b.page), 1);
    assert.ok((await ownText(bc.li)).includes(b.username), 'the comment does not show its author');

    step('the author replies inside it');
    await goto(a.page, post.path);
    assert.equal(await commentCount(a.page), 1, 'the author does not see "1 comment"');
    const bcForA = a.page.locator(`#comment-${bc.id}`);
    assert.equal(await bcForA.count(), 1, `the author does not see #comment-${bc.id}`);
    await bcForA.locator('summary').filter({ hasText: /^\s*Reply\s*$/ }).first().click();
    const replyForm = bcForA.locator('form[data-comment-form]').filter({ has: a.page.locator(`input[name="parent"][value="${bc.id}"]`) });
    assert.equal(await replyForm.count(), 1, `no reply form for comment ${bc.id} inside it`);
    const replyToken = `r${token}`;
    const replyBody = `So glad it helped! Keep the tension *loose*. ${replyToken}`;
    await fill(replyForm, 'body', 'Your reply', replyBody);
    const replyButton = replyForm.getByRole('button', { name: 'Reply', exact: true });
    if (js) {
      const mark = await markPage(a.page);
      const answer = await pressInPlace(a.page, replyButton, `/comments/blog_post/${postId}`, 'replying');
      answerId = (await answer.json()).id;
      await until(async () => (await a.page.locator(`#comment-${answerId}`).count()) === 1, `the reply #comment-${answerId} did not appear in place`);
      await until(async () => { const n = await commentCount(a.page); return n === 2 || n; }, 'the heading did not become "2 comments"');
      await assertNoPageLoad(a.page, mark, 'replying');
    } else {
      await pressAndLoad(a.page, replyButton, 'replying');
      assert.equal(pathOf(a.page), post.path, 'replying did not lead back to the post');
    }
    const reply = await commentWith(a.page, replyToken);
    if (js) assert.equal(reply.id, answerId);
    assert.notEqual(reply.id, bc.id);
    assert.equal(await a.page.locator(`#comment-${bc.id} #comment-${reply.id}`).count(), 1,
      `the reply #comment-${reply.id} is not inside the comment it answers (#comment-${bc.id})`);
    assert.ok(await reply.li.locator('em', { hasText: 'loose' }).count(), 'the reply\'s markdown is not rendered');
    assert.equal(await commentCount(a.page), 2);
    await checks.check(a.page, 'post-thread', { axe });

    step('as the server renders it');
    await goto(b.page, post.path);
    assert.equal(await commentCount(b.page), 2, 'after a reload the heading is not "2 comments"');
    assert.equal(await b.page.locator(`#comment-${bc.id} #comment-${reply.id}`).count(), 1, 'after a reload the reply is not inside its parent comment');
    assert.equal(await scoreOf(postVote(b.page)), '0');

    step('the reader deletes their comment');
    const deleteForm = b.page.locator(`form[action="/comments/${bc.id}/delete"]`);
    assert.equal(await deleteForm.count(), 1, `the reader has no form posting to /comments/${bc.id}/delete`);
    const deleteButton = deleteForm.getByRole('button', { name: 'Delete' });
    if (js) {
      // Saying no to the question leaves the comment alone.
      const posts = [];
      const onRequest = (r) => { if (r.method() === 'POST') posts.push(r.url()); };
      b.page.on('request', onRequest);
      const asked = checks.answerNextDialog(b.page, { accept: false });
      await deleteButton.click();
      const dialog = await within(asked, 5_000, 'pressing Delete asked no question (data-confirm)');
      assert.equal(dialog.type, 'confirm');
      assert.ok(dialog.message.trim(), 'the confirm dialog is empty');
      await sleep(500);
      b.page.off('request', onRequest);
      assert.deepEqual(posts, [], 'dismissing the question still posted');
      assert.ok((await ownText(b.page.locator(`#comment-${bc.id}`))).includes(commentToken), 'dismissing the question deleted the comment');
      const yes = checks.answerNextDialog(b.page, { accept: true });
      await pressAndLoad(b.page, deleteButton, 'deleting the comment');
      await within(yes, 5_000, 'the second Delete asked no question');
    } else {
      await pressAndLoad(b.page, deleteButton, 'deleting the comment');
    }
    assert.equal(pathOf(b.page), post.path, 'deleting did not lead back to the post');
    const gone = b.page.locator(`#comment-${bc.id}`);
    assert.equal(await gone.count(), 1, `the deleted comment's place (#comment-${bc.id}) is gone`);
    const goneText = await ownText(gone);
    assert.ok(goneText.includes('[deleted]'), `the deleted comment does not say "[deleted]": ${goneText}`);
    assert.ok(!goneText.includes(commentToken), 'the deleted comment still shows its text');
    assert.ok(!goneText.includes(b.username), 'the deleted comment still names its author');
    assert.equal(await b.page.locator(`#comment-${bc.id} #comment-${reply.id}`).count(), 1, 'the reply is no longer inside the deleted comment\'s place');
    assert.ok((await ownText(b.page.locator(`#comment-${reply.id}`))).includes(replyToken), 'the reply lost its text');
    assert.equal(await commentCount(b.page), 1, 'after deleting one of two comments the heading is not "1 comment"');
    assert.equal(await b.page.locator(`form[action="/comments/${bc.id}/delete"]`).count(), 0, 'the deleted comment can be deleted again');

    step('the author sees the same');
    await goto(a.page, post.path);
    assert.ok((await ownText(a.page.locator(`#comment-${bc.id}`))).includes('[deleted]'));
    assert.equal(await a.page.locator(`#comment-${bc.id} #comment-${reply.id}`).count(), 1);
    assert.equal(await commentCount(a.page), 1);

    checks.assertClean();
  } finally {
    await a.context.close();
    await b.context.close();
  }
}

test('votes and a threaded discussion update in place with JavaScript', { timeout: 240_000 }, () => guarded(() => discussion(true)));

test('votes and a threaded discussion work with JavaScript off', { timeout: 240_000 }, () => guarded(() => discussion(false)));

// ---------------------------------------------------------------------------
// 3. Visitors

test('a visitor sees "Log in" instead of the forms, and the vote arrow leads to log in', { timeout: 180_000 }, () => guarded(async () => {
  const checks = new PageChecks('social-visitor');
  const token = uniqueName('v');
  const a = await newMember(checks, 'host');
  const visitor = await visitorContext(checks);

  try {
    const post = await publishPost(a, { title: `Storing wool over summer ${token}`, body: `Cedar, not mothballs. ${token}` });
    await goto(a.page, post.path);
    const form = a.page.locator('form[data-comment-form]:not(:has([name="parent"]))');
    await fill(form, 'body', 'Add a comment', `Lavender works too. c${token}`);
    await form.getByRole('button', { name: 'Post comment' }).click();
    await until(async () => (await a.page.locator('li[id^="comment-"]').filter({ hasText: `c${token}` }).count()) === 1, 'the author\'s comment did not appear');

    let res = await goto(visitor.page, post.path);
    assert.equal(res.status(), 200);
    assert.equal(await logoutButton(visitor.page).count(), 0, 'the visitor is logged in');
    assert.equal(await commentCount(visitor.page), 1);
    const thread = visitor.page.locator('#comments');
    assert.equal(await thread.count(), 1, 'the post has no #comments section');
    assert.equal(await visitor.page.locator('form[data-comment-form], textarea[name="body"]').count(), 0, 'a visitor is shown a comment form');
    const login = thread.getByRole('link', { name: 'Log in', exact: true });
    assert.equal(await login.count(), 1, 'the comments section has no "Log in" link for a visitor');
    assert.match(await login.getAttribute('href'), /^(https?:\/\/[^/]+)?\/accounts\/login(\?|$)/, 'the "Log in" link does not lead to /accounts/login');
    assert.equal(await visitor.page.locator('form[action^="/votes/"]').count(), 0, 'a visitor is shown a vote form');
    assert.equal(await visitor.page.getByRole('button', { name: /upvote|downvote/i }).count(), 0, 'a visitor is shown vote buttons');
    assert.equal(await thread.locator('summary').filter({ hasText: /^\s*Reply\s*$/ }).count(), 0, 'a visitor is offered Reply');
    const c = await commentWith(visitor.page, `c${token}`);
    assert.equal(await c.li.locator('.vote a[href^="/accounts/login"]').count(), 1, 'the comment\'s vote arrow does not lead to /accounts/login');

    const vote = postVote(visitor.page);
    assert.equal(await scoreOf(vote), '0');
    const arrow = vote.locator('a[href^="/accounts/login"]');
    assert.equal(await arrow.count(), 1, 'the post\'s vote arrow is not a link to /accounts/login');
    await checks.check(visitor.page, 'post');

    await arrow.click();
    await visitor.page.waitForURL('**/accounts/login**');
    assert.equal(pathOf(visitor.page), '/accounts/login');
    assert.equal(new URL(visitor.page.url()).searchParams.get('next'), post.path, 'the vote arrow\'s log-in link does not come back to the post');
    await logIn(visitor.page, a.username);
    assert.equal(pathOf(visitor.page), post.path, 'logging in from the vote arrow did not come back to the post');
    assert.equal(await visitor.page.locator('form[data-comment-form]:not(:has([name="parent"]))').count(), 1, 'logged in, there is still no comment form');

    checks.assertClean();
  } finally {
    await a.context.close();
    await visitor.context.close();
  }
}));
