// The operator's console, clicked through in a real browser after the purchases of purchase.mjs (run.sh
// starts the shop and makes the operator with `shophost admin create-user`):
//   1. a page of the console without a session goes to the sign-in page; signing in shows the dashboard;
//   2. 決済モジュール: Remise's settings form, 支払期限 set to 31 days → the error at that field and the card and
//      コンビニ methods listed as those the change would stop, saved only when confirmed, then listed as stopped; the storefront's delivery page offers neither; fixed (14 days) →
//      saved, the methods wait to be set 使用;
//   3. 支払方法: both set back to 使用; a new method added and moved to the top; the storefront's delivery
//      page lists the methods in the console's order;
//   4. 商品 and 運営者 are shown; signing out ends the session.
// Each page is also taken at a phone's width. Screenshots go to screenshots/admin-*.png. Stops at the
// first failure and exits non-zero; the last line counts the steps that passed, failed and did not run.

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const shop = process.env.SHOP_URL ?? 'http://127.0.0.1:18080';
const login = process.env.OPERATOR_LOGIN;
const password = process.env.OPERATOR_PASSWORD;
const shots = fileURLToPath(new URL('./screenshots/', import.meta.url));
mkdirSync(shots, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}admin-${name}.png`, fullPage: true });
}

/** The same page at a phone's width too, in a second browser page of the same session. */
async function phoneShot(context, path, name) {
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(`${shop}${path}`);
  await phone.screenshot({ path: `${shots}admin-${name}-phone.png`, fullPage: true });
  await phone.close();
}

/** The payment methods the storefront's delivery page offers, in order (a shopper with a cart). */
async function offeredMethods(context) {
  const shopper = await context.browser().newContext({ locale: 'ja-JP' });
  const page = await shopper.newPage();
  await page.goto(`${shop}/`);
  await page
    .locator('section.product', { hasText: '有田焼 マグカップ' })
    .getByRole('button', { name: 'カートに入れる' })
    .click();
  await page.waitForURL('**/cart');
  await page.getByRole('button', { name: '次へ' }).click();
  await page.waitForURL('**/checkout/customer');
  await page.fill('#family_name', '山田');
  await page.fill('#given_name', '太郎');
  await page.fill('#family_kana', 'ヤマダ');
  await page.fill('#given_kana', 'タロウ');
  await page.fill('#email', 'taro@example.jp');
  await page.fill('#postcode', '100-0001');
  await page.selectOption('#prefecture', '東京都');
  await page.fill('#address1', '千代田区千代田');
  await page.fill('#address2', '1-1');
  await page.fill('#phone', '03-1234-5678');
  await page.click('#customer-next');
  await page.waitForURL('**/checkout/delivery');
  const names = (await page.locator('.method').allTextContents()).map((t) => t.trim());
  await shopper.close();
  return names;
}

async function signIn(page) {
  check(login && password, 'OPERATOR_LOGIN and OPERATOR_PASSWORD must be set (run.sh sets them)');
  const response = await page.goto(`${shop}/admin/modules`);
  check(page.url().startsWith(`${shop}/admin/login`), `without a session /admin/modules showed ${page.url()}`);
  check(response.status() === 200, `the sign-in page answered ${response.status()}`);
  await shot(page, '01-login');
  await page.getByLabel('ログイン名').fill(login);
  await page.getByLabel('パスワード').fill('wrong-password');
  await page.getByRole('button', { name: 'ログイン' }).click();
  check((await page.textContent('#form-errors')).includes('ログイン名またはパスワードが違います'), 'a wrong password was not refused');
  await page.getByLabel('パスワード').fill(password);
  await page.getByRole('button', { name: 'ログイン' }).click();
  // Back to the page asked for first.
  await page.waitForURL(`${shop}/admin/modules`);
  await page.goto(`${shop}/admin`);
  check((await page.textContent('h1')).includes('ダッシュボード'), 'the dashboard is not shown');
  await shot(page, '02-dashboard');
  await phoneShot(page.context(), '/admin', '02-dashboard');
}

async function breakAndFixSettings(page) {
  await page.goto(`${shop}/admin/modules`);
  const text = await page.textContent('main');
  check(text.includes('index.php?acting=remise_card') && text.includes('index.php?acting=remise_conv'), 'the module list lacks the notification URLs');
  await shot(page, '03-modules');
  await phoneShot(page.context(), '/admin/modules', '03-modules');
  await page.goto(`${shop}/admin/modules/remise`);
  await page.fill('#setting-S_PAYDATE', '31');
  await page.getByRole('button', { name: /設定を更新する/ }).click();
  const field = page.locator('.setting', { has: page.locator('#setting-S_PAYDATE') });
  const error = (await field.locator('.field-error').allTextContents()).join(' ');
  check(error.length > 0, 'no error next to 支払期限 after saving 31 days');
  // Nothing is saved before the operator confirms the methods that would stop.
  const wouldStop = (await page.locator('#pending-stop li').allTextContents()).map((t) => t.trim());
  check(wouldStop.length === 2, `the methods the change would stop are ${wouldStop}`);
  await shot(page, '04-settings-confirm');
  await page.click('#confirm-save');
  const stopped = (await page.locator('#stopped-methods li').allTextContents()).map((t) => t.trim());
  check(
    stopped.includes('クレジットカード決済') && stopped.includes('コンビニ・電子マネー決済'),
    `the card and コンビニ methods are not listed as stopped: ${stopped}`,
  );
  await shot(page, '05-settings-error');
  const offered = await offeredMethods(page.context());
  check(
    !offered.some((t) => t.includes('クレジットカード決済') || t.includes('コンビニ・電子マネー決済')),
    `the storefront still offers a stopped method: ${offered}`,
  );
  await page.fill('#setting-S_PAYDATE', '14');
  await page.getByRole('button', { name: /設定を更新する/ }).click();
  check((await page.textContent('#outcome')).includes('設定を更新しました'), 'fixing 支払期限 was not saved');
  const waiting = (await page.locator('#waiting-methods li').allTextContents()).map((t) => t.trim());
  check(waiting.length === 2, `the methods waiting to be set 使用 are ${waiting}`);
  await shot(page, '06-settings-fixed');
  console.log(`settings: 31 days refused at the field, ${stopped.length} methods stopped, fixed`);
}

/** Opens a method's edit page from the list by its name. */
async function editMethod(page, name) {
  await page.goto(`${shop}/admin/methods`);
  await page.locator('#methods tr', { hasText: name }).getByRole('link', { name: '編集' }).click();
  await page.waitForURL(/\/admin\/methods\/\d+$/);
}

async function methods(page) {
  await page.goto(`${shop}/admin/methods`);
  await shot(page, '07-methods-stopped');
  // Both back to 使用.
  for (const name of ['クレジットカード決済', 'コンビニ・電子マネー決済']) {
    await editMethod(page, name);
    await page.getByLabel('使用', { exact: true }).check();
    await page.getByRole('button', { name: '保存する' }).click();
    await page.waitForURL(/\/admin\/methods(\?.*)?$/);
    const row = page.locator('#methods tr', { hasText: name });
    check((await row.locator('.badge').textContent()).trim() === '使用', `${name} is not 使用 after saving`);
  }
  // A new method: previewed first (its explanation sanitised), then saved; it goes last.
  await page.goto(`${shop}/admin/methods/new`);
  await page.getByLabel('支払方法名').fill('クレジットカード決済（分割・リボ）');
  await page.getByLabel('説明').fill('<strong>分割・リボ払い</strong>がご利用いただけます。<script>alert(1)</script>');
  await page.getByLabel('決済種別').selectOption('acting_remise_card');
  await page.getByLabel('使用', { exact: true }).check();
  await page.getByRole('button', { name: 'プレビュー' }).click();
  const preview = await page.locator('#preview').innerHTML();
  check(preview.includes('<strong>分割・リボ払い</strong>') && !preview.includes('<script>'), `the preview is ${preview}`);
  await shot(page, '08-method-preview');
  await page.getByRole('button', { name: '保存する' }).click();
  await page.waitForURL(/\/admin\/methods(\?.*)?$/);
  const before = (await page.locator('#methods tbody tr td:nth-child(2)').allTextContents()).map((t) => t.trim());
  check(before.at(-1) === 'クレジットカード決済（分割・リボ）', `the new method is not last: ${before}`);
  // Moved to the top, one step at a time.
  for (let i = before.length - 1; i > 0; i -= 1) {
    await page.getByRole('button', { name: '「クレジットカード決済（分割・リボ）」を上へ' }).click();
    await page.waitForURL(/\/admin\/methods(\?.*)?$/);
  }
  const after = (await page.locator('#methods tbody tr td:nth-child(2)').allTextContents()).map((t) => t.trim());
  check(after[0] === 'クレジットカード決済（分割・リボ）', `the new method is not first: ${after}`);
  await shot(page, '09-methods-ordered');
  await phoneShot(page.context(), '/admin/methods', '09-methods');
  // The storefront's delivery page follows the console's order.
  const offered = await offeredMethods(page.context());
  const offeredNames = after.filter((name) => offered.some((text) => text.startsWith(name)));
  check(offered.length === after.length, `the storefront offers ${offered.length} methods, the console lists ${after.length}`);
  offered.forEach((text, i) => check(text.startsWith(after[i]), `delivery page method ${i + 1} is "${text}", the console's is ${after[i]}`));
  console.log(`methods: ${offeredNames.join(' / ')} on the delivery page, in the console's order`);
}

async function productsAndOperators(page) {
  await page.goto(`${shop}/admin/products`);
  check((await page.textContent('h1')).includes('商品'), 'the products page is not shown');
  await shot(page, '10-products');
  await page.goto(`${shop}/admin/operators`);
  check((await page.textContent('main')).includes(login), 'the operators page does not list the operator');
  await shot(page, '11-operators');
  await page.getByRole('button', { name: 'ログアウト' }).click();
  await page.waitForURL(`${shop}/admin/login`);
  await page.goto(`${shop}/admin`);
  check(page.url().startsWith(`${shop}/admin/login`), 'the console is still open after signing out');
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
});
const steps = [
  ['sign in', signIn],
  ['break and fix a setting', breakAndFixSettings],
  ['payment methods', methods],
  ['products and operators', productsAndOperators],
];
let page;
let passed = 0;
let failed = 0;
try {
  const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  // Confirmation dialogs (data-confirm) are accepted, as the operator would.
  page.on('dialog', (dialog) => dialog.accept());
  for (const [name, step] of steps) {
    try {
      await step(page);
      passed += 1;
    } catch (error) {
      failed += 1;
      console.error(`admin browser test failed in "${name}": ${error.stack ?? error}`);
      console.error(`at ${page.url()}`);
      await shot(page, 'failure').catch(() => {});
      break;
    }
  }
} catch (error) {
  failed += 1;
  console.error(`admin browser test failed to start: ${error.stack ?? error}`);
} finally {
  await browser.close();
}
const notRun = steps.length - passed - failed;
console.log(`admin browser: ${passed} passed, ${failed} failed, ${notRun} not run`);
if (failed > 0 || passed !== steps.length) process.exitCode = 1;
