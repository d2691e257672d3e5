// Photo sharing in real Chromium: a member makes a gallery, uploads several
// photos into it at once, arranges them (new order, a chosen cover) with the
// plain form, opens a photo, deletes one, and looks at the site-wide grid
// and their profile. The site first gets the demo community, so the grids
// show real generated outfits beside the member's own pictures.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  startServer, launchBrowser, PageChecks, DESKTOP, formFor, fill, submit, logoutButton, uniqueName, makePng,
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

    await goto(page, '/accounts/login');
    const login = await formFor(page, '/accounts/login', 'login');
    await fill(login, 'login', /user ?name|e-?mail|log ?in/i, username);
    await fill(login, 'password', /password/i, PASSWORD);
    await submit(page, login, /log ?in/i);
    assert.ok(await logoutButton(page).count(), 'logged in');

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

    // A file that is not a picture is refused with a sentence, and nothing is kept.
    const upload = await formFor(page, '/photos/upload', 'file');
    await page.setInputFiles('input[name="file"]', [{ name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture') }]);
    await submit(page, upload, /upload/i);
    assert.match(await page.locator('#file-error').innerText(), /notes\.jpg: That file is not a JPEG, PNG, WebP or GIF image/);
    await checks.check(page, 'upload-error');

    const files = [
      { name: 'white-shirt.png', mimeType: 'image/png', buffer: makePng(640, 4) },
      { name: 'sand-trousers.png', mimeType: 'image/png', buffer: makePng(500, 3) },
      { name: 'straw-hat.png', mimeType: 'image/png', buffer: makePng(420, 2) },
    ];
    const again = await formFor(page, '/photos/upload', 'file');
    await page.setInputFiles('input[name="file"]', files);
    await fill(again, 'tags', /tags/i, 'linen, summer');
    await page.locator('select[name="gallery"]').selectOption(galleryId);
    const res = await submit(page, again, /upload/i);
    assert.equal(res.status(), 303, 'the upload is accepted');
    assert.equal(new URL(page.url()).pathname, `/galleries/${galleryId}`);
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
