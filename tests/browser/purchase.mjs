// A person's purchases, clicked through in a real browser (started by run.sh, which also starts the
// shop and the Remise sandbox):
//   1. クレジットカード決済: cart → お客様情報 → 発送・支払方法 → 内容確認 (which stores nothing) →
//      注文内容を確定して支払いへ進む (which stores the attempt) → 上記内容で注文する → the sandbox card page
//      (test card) → back to the shop's completion page with an order number; the order's status is what
//      the shop's Remise settings make it (card_jb CAPTURE → 売上, AUTH → 仮売上), on the completion page
//      and through the admin API;
//   2. コンビニ・電子マネー決済: … → the sandbox's place choice (セブン-イレブン) → the completion page
//      with the payment slip (払込番号); then 入金通知 in the sandbox backyard, and the order turns
//      入金済み (checked through the admin API and on the completion page);
//   3. a declined card (4000000000000002): the shopper sees the failure page, and there is no order;
//   4. a member's card purchase (its status checked as in 1), then マイページ's クレジットカード変更はこちら
//      (PayQuick card change);
//   5. the member's subscription to the monthly product (継続課金), listed on マイページ.
// Card expiries are derived from today's date, so the sandbox never declines them as expired.
// The shop's config file (SHOP_CONFIG, written by run.sh) says which card job the shop runs.
// Screenshots of each step go to screenshots/. Stops at the first failure, exits non-zero, and the
// last line counts the scenarios that passed, failed and did not run.

import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const shop = process.env.SHOP_URL ?? 'http://127.0.0.1:18080';
const sandbox = process.env.SANDBOX_URL ?? 'http://127.0.0.1:18081';
const adminToken = process.env.ADMIN_TOKEN ?? 'demo-admin-token-change-me';
const shopConfig = process.env.SHOP_CONFIG;
const shots = fileURLToPath(new URL('./screenshots/', import.meta.url));
mkdirSync(shots, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * A card expiry `MM/YY` in December of a year `yearsAhead` from now (the sandbox declines a card whose
 * month is past, in Asia/Tokyo; a year or more ahead is in the future wherever this runs).
 */
function cardExpiry(yearsAhead, month = 12) {
  const year = (new Date().getUTCFullYear() + yearsAhead) % 100;
  return `${String(month).padStart(2, '0')}/${String(year).padStart(2, '0')}`;
}

/**
 * What a card order's status must be, from the Remise settings in the shop's config file: card_jb
 * CAPTURE makes it 売上 (captured), AUTH makes it 仮売上 (authorized).
 */
function expectedCardStatus() {
  check(shopConfig, 'SHOP_CONFIG must name the shop\'s config file (run.sh sets it)');
  const text = readFileSync(shopConfig, 'utf8');
  const job = /^\s*card_jb\s*=\s*"([A-Z]+)"/m.exec(text)?.[1];
  const statuses = { CAPTURE: ['captured', '売上'], AUTH: ['authorized', '仮売上'] };
  check(job in statuses, `the config ${shopConfig} has no card_jb CAPTURE or AUTH (found ${job})`);
  const [status, label] = statuses[job];
  return { job, status, label };
}

/** An admin API GET with the demo token; returns the JSON body. */
async function admin(path) {
  const response = await fetch(`${shop}/admin/api${path}`, {
    headers: { Authorization: `Bearer ${adminToken}` },
  });
  check(response.ok, `GET /admin/api${path} answered ${response.status}`);
  return response.json();
}

/** Checks a card order's status on the completion page (the current page) and in the admin API. */
async function checkCardOrderStatus(page, orderNumber, who) {
  const expected = expectedCardStatus();
  const shown = (await page.textContent('#payment-status')).trim();
  check(
    shown === expected.label,
    `${who}: the completion page shows ${shown}, not ${expected.label} (card_jb ${expected.job})`,
  );
  const { orders } = await admin(`/orders?order_number=${encodeURIComponent(orderNumber)}`);
  check(orders.length === 1, `${who}: the admin API finds ${orders.length} orders numbered ${orderNumber}`);
  const order = orders[0];
  check(
    order.payment_status === expected.status && order.payment_status_label === expected.label,
    `${who}: order ${orderNumber} is ${order.payment_status} (${order.payment_status_label}), ` +
      `not ${expected.status} (${expected.label}) as card_jb ${expected.job} makes it`,
  );
  return order;
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}${name}.png`, fullPage: true });
}

/** Adds a product to the cart and goes through the cart and customer steps. */
async function toDelivery(page, product) {
  await page.goto(`${shop}/`);
  await page
    .locator('section.product', { hasText: product })
    .getByRole('button', { name: 'カートに入れる' })
    .click();
  await page.waitForURL('**/cart');
  check((await page.textContent('main')).includes(product), `the cart lacks ${product}`);
  return page;
}

async function fillCustomer(page) {
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
}

/** Chooses a payment method on the delivery page and goes to the confirm page (the order, a button). */
async function chooseMethod(page, methodName) {
  const method = page.locator('.method', { hasText: methodName });
  await method.locator('input[type=radio]').check();
  await page.click('#delivery-next');
  await page.waitForURL('**/checkout/confirm');
  await page.locator('#confirm_button').waitFor();
}

/**
 * Presses 注文内容を確定して支払いへ進む on the confirm page; returns the response of its POST, the page
 * carrying the gateway form.
 */
async function confirmOrder(page) {
  const purchaseResponse = page.waitForResponse(
    (r) => r.url().endsWith('/checkout/confirm') && r.request().method() === 'POST',
  );
  await page.click('#confirm_button');
  await page.locator('#purchase_form').waitFor();
  return purchaseResponse;
}

async function waitForOrder(page) {
  await page.waitForURL('**/checkout/complete/**', { timeout: 30000 });
  // The completion page refreshes itself until the gateway's notification has landed.
  await page.locator('#order-number').waitFor({ timeout: 30000 });
  const orderNumber = (await page.textContent('#order-number')).trim();
  check(orderNumber.length > 0, 'the completion page shows no order number');
  return orderNumber;
}

async function cardPurchase(page) {
  await toDelivery(page, '有田焼 マグカップ');
  await shot(page, '01-cart');
  await page.getByRole('button', { name: '次へ' }).click();
  await page.waitForURL('**/checkout/customer');
  await fillCustomer(page);
  await shot(page, '02-customer');
  await page.click('#customer-next');
  await page.waitForURL('**/checkout/delivery');
  await shot(page, '03-delivery');
  await chooseMethod(page, 'クレジットカード決済');
  check(
    (await page.textContent('main')).includes('クレジットカード決済'),
    'the confirm page does not name the payment method',
  );
  check((await page.locator('#purchase_form').count()) === 0, 'the confirm page shows the gateway form at once');
  await shot(page, '04-confirm-card');
  // Looking at the confirm page stored nothing (the shop's database started empty).
  check((await admin('/attempts')).attempts.length === 0, 'showing the confirm page stored an attempt');

  const response = await confirmOrder(page);
  check((await admin('/attempts')).attempts.length === 1, 'confirming did not store exactly one attempt');
  const contentType = (await response.headerValue('content-type')) ?? '';
  check(/charset=Shift_JIS/i.test(contentType), `the confirm page is served as ${contentType}`);
  const form = page.locator('#purchase_form');
  check(
    (await form.getAttribute('accept-charset')) === 'Shift_JIS',
    'the gateway form lacks accept-charset="Shift_JIS"',
  );
  check(
    (await page.textContent('main')).includes('クレジットカード決済'),
    'the page with the gateway form does not name the payment method',
  );
  await shot(page, '04-purchase-card');

  await page.getByRole('button', { name: '上記内容で注文する' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  await page.fill('#cardno', '4111111111111111');
  await page.fill('#expire', cardExpiry(2));
  await page.fill('#holder', 'TARO YAMADA');
  await shot(page, '05-sandbox-card');
  await page.getByRole('button', { name: '支払う', exact: true }).click();

  const orderNumber = await waitForOrder(page);
  await shot(page, '06-complete-card');
  const order = await checkCardOrderStatus(page, orderNumber, 'card purchase');
  console.log(`card purchase: order ${orderNumber} is ${order.payment_status_label}`);
}

/**
 * The sandbox declines the card: the shopper lands on the shop's failure page, and no order exists for
 * the attempt (the 決済エラーログ has it instead).
 */
async function declinedCard(page) {
  await toDelivery(page, '今治タオル ハンカチ');
  await page.getByRole('button', { name: '次へ' }).click();
  await page.waitForURL('**/checkout/customer');
  await page.click('#customer-next');
  await page.waitForURL('**/checkout/delivery');
  await chooseMethod(page, 'クレジットカード決済');
  await confirmOrder(page);
  const linkKey = await page.locator('#purchase_form input[name="S_TORIHIKI_NO"]').getAttribute('value');
  check(/^\d+$/.test(linkKey ?? ''), `the gateway form's S_TORIHIKI_NO is ${linkKey}`);
  await page.getByRole('button', { name: '上記内容で注文する' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  await page.fill('#cardno', '4000000000000002');
  await page.fill('#expire', cardExpiry(2));
  await page.fill('#holder', 'TARO YAMADA');
  await page.getByRole('button', { name: '支払う', exact: true }).click();

  await page.waitForURL('**/return/acting_remise_card/ng', { timeout: 30000 });
  const text = await page.textContent('main');
  check(text.includes('ご注文が完了しませんでした'), `the failure page does not say so: ${text}`);
  check(text.includes('G12'), `the failure page does not give the gateway's reason (G12): ${text}`);
  check((await page.locator('#order-number').count()) === 0, 'the failure page shows an order number');
  await shot(page, '11d-declined');

  const { orders } = await admin(`/orders?link_key=${linkKey}`);
  check(orders.length === 0, `a declined card made an order: ${JSON.stringify(orders)}`);
  const { errors } = await admin('/settlement-errors');
  check(
    errors.some((e) => e.link_key === linkKey && String(e.result).startsWith('G12')),
    `the 決済エラーログ lacks the decline of ${linkKey}`,
  );
  console.log(`declined card: no order for ${linkKey}, failure page shown`);
}

async function convPurchase(page) {
  await toDelivery(page, '今治タオル ハンカチ');
  await page.getByRole('button', { name: '次へ' }).click();
  await page.waitForURL('**/checkout/customer');
  // The session remembers the details typed for the first purchase.
  check(
    (await page.inputValue('#family_name')) === '山田',
    'the customer form forgot the details of this session',
  );
  await page.click('#customer-next');
  await page.waitForURL('**/checkout/delivery');
  await chooseMethod(page, 'コンビニ・電子マネー決済');
  check(
    (await page.textContent('main')).includes('（お支払いの有効期限はご注文日から14日間となっております。）'),
    'the confirm page lacks the payment deadline notice',
  );
  await shot(page, '07-confirm-conv');
  await confirmOrder(page);

  await page.getByRole('button', { name: '上記内容で注文する' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  await page.getByLabel('セブン-イレブン').check();
  await shot(page, '08-sandbox-conv');
  await page.getByRole('button', { name: 'お支払い番号を発行する' }).click();

  const orderNumber = await waitForOrder(page);
  const linkKey = new URL(page.url()).pathname.split('/').pop();
  const text = await page.textContent('main');
  check(text.includes('払込番号'), 'the completion page shows no 払込番号');
  check(text.includes('セブン-イレブン'), 'the completion page does not name the store');
  check(
    (await page.textContent('#payment-status')).trim() === '未入金',
    'a new multi-payment order should be 未入金',
  );
  await shot(page, '09-complete-conv');
  console.log(`conv purchase: order ${orderNumber}, link key ${linkKey}`);

  // The shopper pays at the store: the sandbox backyard sends the 入金通知.
  await page.goto(`${sandbox}/backyard`);
  const row = page.locator('tr', { hasText: linkKey });
  await row.getByRole('button', { name: '入金通知' }).click();
  await page.waitForURL(`${sandbox}/backyard`);
  await shot(page, '10-backyard');

  const deadline = Date.now() + 20000;
  let status = '';
  while (Date.now() < deadline) {
    const { orders } = await admin(`/orders?link_key=${linkKey}`);
    status = orders[0]?.payment_status_label ?? '';
    if (status === '入金済み') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  check(status === '入金済み', `the order is ${status || 'missing'}, not 入金済み, after 入金通知`);
  await page.goto(`${shop}/checkout/complete/${linkKey}`);
  check(
    (await page.textContent('#payment-status')).trim() === '入金済み',
    'the completion page does not show 入金済み',
  );
  await shot(page, '11-paid');
  console.log(`conv purchase: order ${orderNumber} is 入金済み`);
}

/**
 * The demo member logs in, pays by card (Remise keeps the card: PayQuick), sees it on マイページ and
 * changes it through クレジットカード変更はこちら → 更新処理を行う → the sandbox's card registration.
 */
async function memberCardChange(page) {
  await page.goto(`${shop}/mypage`);
  await page.waitForURL('**/login?next=/mypage');
  await page.fill('#email', 'demo@example.invalid');
  await page.fill('#password', 'demo');
  await page.click('#login-button');
  await page.waitForURL('**/mypage');

  await toDelivery(page, '南部鉄器 急須');
  await page.getByRole('button', { name: '次へ' }).click();
  await page.waitForURL('**/checkout/customer');
  check((await page.inputValue('#family_name')) === '会員', 'the member details are not prefilled');
  await page.click('#customer-next');
  await page.waitForURL('**/checkout/delivery');
  await chooseMethod(page, 'クレジットカード決済');
  await confirmOrder(page);
  await page.getByRole('button', { name: '上記内容で注文する' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  await page.fill('#cardno', '4111111111111111');
  await page.fill('#expire', cardExpiry(2));
  await page.fill('#holder', 'HANAKO KAIIN');
  await page.getByRole('button', { name: '支払う', exact: true }).click();
  const orderNumber = await waitForOrder(page);
  const order = await checkCardOrderStatus(page, orderNumber, 'member purchase');
  check(order.member_id != null, `the member's order ${orderNumber} names no member`);

  await page.goto(`${shop}/mypage`);
  check(
    (await page.textContent('#card-last4')).trim() === '****1111',
    'マイページ does not show the kept card',
  );
  check(
    (await page.locator('tr.order', { hasText: orderNumber }).count()) === 1,
    'マイページ does not list the order',
  );
  await page.click('#card-change');
  await page.waitForURL('**/mypage/card');
  await shot(page, '12-card-update');
  await page.getByRole('button', { name: '更新処理を行う' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  await page.fill('#cardno', '5555555555554444');
  // Another card, another expiry: the change is a new card, not the same one again.
  await page.fill('#expire', cardExpiry(3, 11));
  await page.fill('#holder', 'HANAKO KAIIN');
  await page.getByRole('button', { name: 'カードを登録する' }).click();
  await page.waitForURL('**/mypage/card/done**', { timeout: 30000 });
  await page.locator('#card-result', { hasText: 'カード情報を更新しました' }).waitFor({ timeout: 30000 });
  await shot(page, '13-card-updated');
  await page.goto(`${shop}/mypage`);
  check(
    (await page.textContent('#card-last4')).trim() === '****4444',
    'マイページ still shows the old card',
  );
  console.log(`member: order ${orderNumber}, card changed to ****4444`);
}

/**
 * Still logged in, the member subscribes to the monthly product (継続課金) with the kept card: the order
 * is 仮売上 and マイページ lists the subscription as 継続中.
 */
async function memberSubscription(page) {
  await toDelivery(page, 'オンライン茶道教室 月謝');
  check(
    (await page.textContent('main')).includes('オンライン茶道教室 月謝'),
    'the cart lacks the subscription',
  );
  await page.getByRole('button', { name: '次へ' }).click();
  await page.waitForURL('**/checkout/customer');
  await page.click('#customer-next');
  await page.waitForURL('**/checkout/delivery');
  check(await page.locator('#recurring-notice').isVisible(), 'the delivery page does not explain 継続課金');
  check(
    (await page.locator('.method', { hasText: 'コンビニ' }).count()) === 0,
    'a method that cannot register the recurring charge is offered',
  );
  await chooseMethod(page, 'クレジットカード決済');
  await shot(page, '14-confirm-subscription');
  await confirmOrder(page);
  await page.getByRole('button', { name: '上記内容で注文する' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  await page.getByRole('button', { name: 'このカードで支払う' }).click();
  const orderNumber = await waitForOrder(page);
  const status = (await page.textContent('#payment-status')).trim();
  check(status.includes('仮売上'), `the subscription's first payment is ${status}, not 仮売上`);
  await page.goto(`${shop}/mypage`);
  const contract = page.locator('tr.contract', { hasText: 'オンライン茶道教室 月謝' });
  check((await contract.count()) === 1, 'マイページ does not list the subscription');
  check(
    (await contract.locator('.contract-status').textContent()).trim() === '継続中',
    'the subscription is not 継続中',
  );
  await shot(page, '15-mypage-subscription');
  console.log(`subscription: order ${orderNumber} (${status}), 継続中 on マイページ`);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-quic',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
  ],
});
// In order: the later scenarios build on the earlier ones (the session's customer details, the login).
const scenarios = [
  ['card purchase', cardPurchase],
  ['multi-payment purchase', convPurchase],
  ['declined card', declinedCard],
  ['member card change', memberCardChange],
  ['member subscription', memberSubscription],
];
let page;
let passed = 0;
let failed = 0;
try {
  const context = await browser.newContext({ locale: 'ja-JP' });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  for (const [name, scenario] of scenarios) {
    try {
      await scenario(page);
      passed += 1;
    } catch (error) {
      failed += 1;
      console.error(`browser test failed in "${name}": ${error.stack ?? error}`);
      console.error(`at ${page.url()}`);
      await shot(page, 'failure').catch(() => {});
      break;
    }
  }
} catch (error) {
  failed += 1;
  console.error(`browser test failed to start: ${error.stack ?? error}`);
} finally {
  await browser.close();
}
const notRun = scenarios.length - passed - failed;
console.log(`browser: ${passed} passed, ${failed} failed, ${notRun} not run`);
if (failed > 0 || passed !== scenarios.length) process.exitCode = 1;
