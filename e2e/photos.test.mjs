// Photo sharing in real Chromium: a member makes a gallery, uploads several
// photos into it at once (with JavaScript off: the plain form post), arranges
// them (new order, a chosen cover) with the plain form, opens a photo, deletes
// one, and looks at the site-wide grid and their profile. The site first gets
// the demo community, so the grids show real generated outfits beside the
// member's own pictures. Then, with JavaScript, an upload shows its progress
// and its errors in place; and a moderator removes a member's gallery.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  startServer, launchBrowser, PageChecks, DESKTOP, formFor, fill, submit, logoutButton, uniqueName, makePng, makeNoisyPng,
  createMember,
} from './lib.mjs';

const PASSWORD = 'Darning-Needle-Thimble-73';

let server;
let browser;

before(async () => {
  server = await startServer({ name: 'photos' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const step = (msg) => console.log(`[e2e] ${msg}`);

/** Runs a `coterie` command against the test server's data folder. */
function cli(args, input) {
  const done = spawnSync(server.proc.spawnfile, ['--data-dir', server.dataDir, ...args], {
    input, encoding: 'utf8', env: { ...process.env, COTERIE_DATA_DIR: server.dataDir }, timeout: 240_000,
  });
  assert.equal(done.status, 0, `coterie ${args.join(' ')} failed:\n${done.stderr}`);
}

async function goto(page, path) {
  const res = await page.goto(`${server.url}${path}`, { waitUntil: 'load' });
  assert.ok(res && res.status() < 400, `${path} answered ${res?.status()}`);
  return res;
}

async function logIn(page, username) {
  await goto(page, '/accounts/login');
  const login = await formFor(page, '/accounts/login', 'login');
  await fill(login, 'login', /user ?name|e-?mail|log ?in/i, username);
  await fill(login, 'password', /password/i, PASSWORD);
  await submit(page, login, /log ?in/i);
  assert.ok(await logoutButton(page).count(), 'logged in');
}

/** The photo ids on the page, in the order the grid shows them. */
async function tileIds(page) {
  return page.locator('.photo-tile__link').evaluateAll((links) => links.map((a) => Number(new URL(a.href).pathname.split('/').pop())));
}

test('make a gallery, upload, arrange, view and delete photos', { timeout: 300_000 }, async () => {
  const checks = new PageChecks('photos');
  try {
    cli(['demo']);
    const username = uniqueName('look');
    cli(['user', 'create', '--username', username, '--email', `${username}@example.com`, '--password-stdin'], `${PASSWORD}\n`);
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = checks.watch(await context.newPage());

    await logIn(page, username);

    // A new gallery, which leads straight to the upload form with it chosen.
    await goto(page, '/galleries/new');
    const make = await formFor(page, '/galleries/new', 'title');
    await fill(make, 'title', /title/i, 'Summer linen');
    await fill(make, 'description', /description/i, 'Three looks for **hot** days.');
    await submit(page, make, /make the gallery/i);
    assert.match(new URL(page.url()).pathname, /^\/photos\/upload$/);
    const galleryId = new URL(page.url()).searchParams.get('gallery');
    assert.equal(await page.locator('select[name="gallery"]').inputValue(), galleryId, 'the new gallery is chosen');
    await checks.check(page, 'upload');

    // Without JavaScript, the upload is the plain form post it always was.
    const plainContext = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false, storageState: await context.storageState() });
    plainContext.setDefaultTimeout(20_000);
    const plain = checks.watch(await plainContext.newPage());
    await goto(plain, `/photos/upload?gallery=${galleryId}`);

    // A file that is not a picture is refused with a sentence, and nothing is kept.
    const upload = await formFor(plain, '/photos/upload', 'file');
    await plain.setInputFiles('input[name="file"]', [{ name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture') }]);
    const refused = await submit(plain, upload, /upload/i);
    assert.equal(refused.status(), 422, 'the form comes back with its errors');
    assert.match(await plain.locator('#file-error').innerText(), /notes\.jpg: That file is not a JPEG, PNG, WebP or GIF image/);
    // axe needs JavaScript; the JavaScript test below checks this page with it.
    await checks.check(plain, 'upload-error', { axe: false });

    const files = [
      { name: 'white-shirt.png', mimeType: 'image/png', buffer: makePng(640, 4) },
      { name: 'sand-trousers.png', mimeType: 'image/png', buffer: makePng(500, 3) },
      { name: 'straw-hat.png', mimeType: 'image/png', buffer: makePng(420, 2) },
    ];
    const again = await formFor(plain, '/photos/upload', 'file');
    await plain.setInputFiles('input[name="file"]', files);
    await fill(again, 'tags', /tags/i, 'linen, summer');
    await plain.locator('select[name="gallery"]').selectOption(galleryId);
    const res = await submit(plain, again, /upload/i);
    assert.equal(res.status(), 303, 'the upload is accepted');
    assert.equal(new URL(plain.url()).pathname, `/galleries/${galleryId}`);
    assert.match(await plain.locator('.flash').innerText(), /Your 3 photos are up/);
    await plainContext.close();
    await goto(page, `/galleries/${galleryId}`);
    const uploaded = await tileIds(page);
    assert.equal(uploaded.length, 3, 'three photos in the gallery');
    step(`uploaded photos ${uploaded.join(', ')} into gallery ${galleryId}`);
    await checks.check(page, 'gallery');

    // Arrange: reverse the order, make the last photo the cover.
    await goto(page, `/galleries/${galleryId}/edit`);
    const arrange = await formFor(page, `/galleries/${galleryId}/edit`, 'title');
    for (const [i, id] of uploaded.entries()) {
      await arrange.locator(`input[name="position_${id}"]`).fill(String(uploaded.length - i));
    }
    await arrange.locator(`input[name="cover"][value="${uploaded[2]}"]`).check();
    await checks.check(page, 'arrange');
    await submit(page, arrange, /^save$/i);
    const reordered = await tileIds(page);
    assert.deepEqual(reordered, [...uploaded].reverse(), 'the gallery shows the new order');

    // The photo page: the large picture, in WebP with a JPEG fallback, and its neighbours.
    await page.locator(`.photo-tile__link[href="/photos/${reordered[1]}"]`).click();
    await page.waitForLoadState('load');
    assert.equal(new URL(page.url()).pathname, `/photos/${reordered[1]}`);
    assert.equal(await page.locator('.photo__figure source[type="image/webp"]').count(), 1);
    const shown = await page.locator('.photo__figure img').evaluate((img) => img.complete && img.naturalWidth);
    assert.ok(shown > 0, 'the picture loaded');
    assert.equal(await page.locator('a[rel="prev"]').getAttribute('href'), `/photos/${reordered[0]}`);
    assert.equal(await page.locator('a[rel="next"]').getAttribute('href'), `/photos/${reordered[2]}`);
    assert.match(await page.locator('.photo__tags').innerText(), /#linen/);
    await checks.check(page, 'photo');

    // Delete it: the confirmation, then the gallery without it.
    const confirmed = checks.answerNextDialog(page);
    await submit(page, page.locator(`form[action="/photos/${reordered[1]}/delete"]`), /delete/i);
    assert.match((await confirmed).message, /Delete this photo/);
    assert.deepEqual(await tileIds(page), [reordered[0], reordered[2]], 'the photo is gone from the gallery');
    assert.match(await page.locator('.gallery-head').innerText(), /2 photos/i);

    await goto(page, '/photos');
    assert.ok((await tileIds(page)).length >= 10, 'the grid shows the demo photos too');
    await checks.check(page, 'grid');
    await goto(page, `/u/${username}`);
    assert.equal(await page.locator('.gallery-card').count(), 1);
    await checks.check(page, 'profile');
    await goto(page, `/tags/linen`);
    await checks.check(page, 'tag');
    await context.close();
    checks.assertClean();
  } catch (err) {
    server.failed = true;
    throw err;
  }
});

/** Records every value the upload's <progress> takes, across page loads. */
async function watchProgress(page) {
  const seen = [];
  await page.exposeFunction('reportUploadProgress', (value, max) => seen.push({ value, max }));
  await page.addInitScript(() => {
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.target instanceof HTMLProgressElement && r.target.hasAttribute('value')) window.reportUploadProgress(r.target.value, r.target.max);
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['value', 'max'] });
  });
  return seen;
}

test('with JavaScript, an upload shows its progress and its errors in place', { timeout: 300_000 }, async () => {
  const checks = new PageChecks('photos-progress');
  try {
    const username = uniqueName('prog');
    cli(['user', 'create', '--username', username, '--email', `${username}@example.com`, '--password-stdin'], `${PASSWORD}\n`);
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = checks.watch(await context.newPage());
    const seen = await watchProgress(page);
    await logIn(page, username);

    // A refused file: the form comes back with its error, and the page is not reloaded.
    await goto(page, '/photos/upload');
    await page.evaluate(() => { window.stillThisPage = true; });
    await page.setInputFiles('input[name="file"]', [{ name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture') }]);
    await page.getByLabel('Title').fill('Market day');
    const refused = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.getByRole('button', { name: /^upload$/i }).click();
    assert.equal((await refused).status(), 422);
    assert.match(await page.locator('#file-error').innerText(), /notes\.jpg: That file is not a JPEG, PNG, WebP or GIF image/);
    assert.equal(await page.evaluate(() => window.stillThisPage), true, 'shown without a page load');
    assert.equal(await page.getByLabel('Title').inputValue(), 'Market day', 'the fields as sent');
    assert.ok(await page.getByRole('button', { name: /^upload$/i }).isEnabled(), 'the form can be sent again');
    assert.equal(await page.locator('#file').evaluate((el) => el === document.activeElement), true, 'the refused field has the focus');
    await checks.check(page, 'refused');

    // A 3 MB picture over a slow line: the bar fills, then the photo's page opens.
    const big = makeNoisyPng(1000, 1000);
    step(`sending ${big.length} bytes at 300 KB/s`);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 300 * 1024 });
    // When the upload cannot get through, or is turned away, the form says so and can be sent again.
    const failures = [
      { answer: (route) => route.abort('connectionreset'), says: /did not get through.*connection/i },
      { answer: (route) => route.fulfill({ status: 429, contentType: 'text/html', body: '<!doctype html><title>Slow down</title>' }), says: /wait a few minutes/i },
      { answer: (route) => route.fulfill({ status: 413, contentType: 'text/html', body: '<!doctype html><title>Too large</title>' }), says: /fewer or smaller files/i },
    ];
    await page.setInputFiles('input[name="file"]', [{ name: 'small.png', mimeType: 'image/png', buffer: makePng(200, 2) }]);
    assert.equal(await page.locator('#file-error').count(), 0, 'choosing again clears the old refusal');
    for (const { answer, says } of failures) {
      await page.route('**/photos/upload', (route) => (route.request().method() === 'POST' ? answer(route) : route.continue()));
      await page.getByRole('button', { name: /^upload$/i }).click();
      const alert = page.locator('.upload-error');
      await alert.waitFor({ state: 'visible' });
      assert.match(await alert.innerText(), says);
      assert.equal(await alert.getAttribute('role'), 'alert');
      assert.ok(await page.getByRole('button', { name: /^upload$/i }).isEnabled(), 'the form can be sent again');
      assert.ok(await page.locator('.upload-progress').isHidden(), 'the bar is put away');
      await page.unrouteAll();
    }
    assert.equal(await page.evaluate(() => window.stillThisPage), true, 'all on the same page');
    await page.evaluate(() => window.scrollTo(0, 0));
    await checks.check(page, 'failed');

    await page.setInputFiles('input[name="file"]', [{ name: 'market-day.png', mimeType: 'image/png', buffer: big }]);
    // Cancelled on the way: the form is as it was, ready to send again.
    await page.getByRole('button', { name: /^upload$/i }).click();
    await page.getByRole('progressbar', { name: /uploading/i }).waitFor({ state: 'visible' });
    await page.getByRole('button', { name: /^cancel$/i }).click();
    await page.locator('.upload-progress').waitFor({ state: 'hidden' });
    assert.ok(await page.getByRole('button', { name: /^upload$/i }).isEnabled(), 'the form can be sent again after cancelling');
    assert.equal(new URL(page.url()).pathname, '/photos/upload');
    seen.length = 0;
    const opened = page.waitForURL(/\/photos\/\d+$/, { timeout: 120_000 });
    await page.getByRole('button', { name: /^upload$/i }).click();
    const bar = page.getByRole('progressbar', { name: /uploading/i });
    await bar.waitFor({ state: 'visible' });
    await page.waitForFunction(() => {
      const p = document.querySelector('.upload-progress progress');
      return p && p.value > p.max * 0.1 && p.value < p.max * 0.5;
    });
    assert.ok(await page.getByRole('button', { name: /^upload$/i }).isDisabled(), 'no second send while the first goes');
    assert.match(await page.locator('.upload-progress').innerText(), /\d+%[\s\S]*\d+(\.\d)? (KB|MB) of 2\.9 MB sent/);
    assert.ok(await page.locator('.upload-error').isHidden(), 'the last failure is no longer shown');
    await page.evaluate(() => window.scrollTo(0, 0));
    await checks.check(page, 'in-progress');
    await opened;
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    assert.match(await page.locator('.flash').innerText(), /Your photo is up/);
    assert.equal(await page.locator('.photo__title').innerText(), 'Market day');
    const values = seen.filter((s) => s.max > 100);
    assert.ok(values.some((s) => s.value > 0 && s.value < s.max), `the bar moved through the middle: ${JSON.stringify(seen.slice(0, 5))}`);
    assert.ok(values.some((s) => s.value === s.max), 'and reached the end');
    assert.ok(values.every((s, i) => i === 0 || s.value >= values[i - 1].value), 'never going back');
    step(`the bar took ${values.length} values, up to ${values.at(-1)?.value}`);
    await checks.check(page, 'uploaded');
    await context.close();
    checks.assertClean();
  } catch (err) {
    server.failed = true;
    throw err;
  }
});

test('a moderator removes a member\'s gallery, with a reason; its photos stay', { timeout: 300_000 }, async () => {
  const checks = new PageChecks('photos-moderate');
  try {
    const owner = uniqueName('own');
    const moderator = uniqueName('mod');
    await createMember(server, { username: owner, email: `${owner}@example.com`, password: PASSWORD });
    await createMember(server, { username: moderator, email: `${moderator}@example.com`, password: PASSWORD, role: 'moderator' });

    const ownerContext = await browser.newContext({ viewport: DESKTOP });
    const mine = checks.watch(await ownerContext.newPage());
    await logIn(mine, owner);
    await goto(mine, '/galleries/new');
    const make = await formFor(mine, '/galleries/new', 'title');
    await fill(make, 'title', /title/i, 'Car boot finds');
    await submit(mine, make, /make the gallery/i);
    const galleryId = new URL(mine.url()).searchParams.get('gallery');
    await mine.setInputFiles('input[name="file"]', [{ name: 'lamp.png', mimeType: 'image/png', buffer: makePng(300, 3) }]);
    await mine.getByRole('button', { name: /^upload$/i }).click();
    await mine.waitForURL(new RegExp(`/galleries/${galleryId}$`));
    const [photoId] = await tileIds(mine);
    assert.ok(photoId, 'the photo is in the gallery');
    assert.equal(await mine.getByRole('button', { name: /remove gallery/i }).count(), 0, 'the owner has no moderator button');

    const modContext = await browser.newContext({ viewport: DESKTOP });
    const page = checks.watch(await modContext.newPage());
    await logIn(page, moderator);
    await goto(page, `/galleries/${galleryId}`);
    await page.locator('summary', { hasText: /remove gallery/i }).click();
    await page.getByLabel(/reason/i).fill('Not clothes: house lamps');
    await checks.check(page, 'remove');
    const confirmed = checks.answerNextDialog(page);
    await submit(page, page.locator(`form[action="/galleries/${galleryId}/remove"]`), /remove gallery/i);
    assert.match((await confirmed).message, /Remove this gallery as a moderator/);
    assert.equal(new URL(page.url()).pathname, `/u/${owner}`);
    assert.match(await page.locator('.flash').innerText(), /gallery is removed/i);
    assert.equal(await page.locator(`a[href="/galleries/${galleryId}"]`).count(), 0, 'the gallery is gone from the profile');
    assert.ok(await page.locator(`a[href="/photos/${photoId}"]`).count(), 'its photo is still there');
    const gone = await page.goto(`${server.url}/galleries/${galleryId}`);
    assert.equal(gone.status(), 404);
    await ownerContext.close();
    await modContext.close();
    checks.assertClean();
  } catch (err) {
    server.failed = true;
    throw err;
  }
});
