// A person's two purchases, clicked through in a real browser (started by run.sh, which also starts
// the shop and the Remise sandbox):
//   1. クレジットカード決済: cart → お客様情報 → 発送・支払方法 → 内容確認 → 上記内容で注文する → the
//      sandbox card page (test card) → back to the shop's completion page with an order number;
//   2. コンビニ・電子マネー決済: … → the sandbox's place choice (セブン-イレブン) → the completion page
//      with the payment slip (払込番号); then 入金通知 in the sandbox backyard, and the order turns
//      入金済み (checked through the admin API and on the completion page).
//   3. a member's card purchase, then マイページ's クレジットカード変更はこちら (PayQuick card change);
//   4. the member's subscription to the monthly product (継続課金), listed on マイページ.
// Screenshots of each step go to screenshots/. Exits non-zero on the first failure.

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const shop = process.env.SHOP_URL ?? 'http://127.0.0.1:18080';
const sandbox = process.env.SANDBOX_URL ?? 'http://127.0.0.1:18081';
const adminToken = process.env.ADMIN_TOKEN ?? 'demo-admin-token-change-me';
const shots = fileURLToPath(new URL('./screenshots/', import.meta.url));
mkdirSync(shots, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
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

/** Chooses a payment method on the delivery page and goes to the confirm page; returns its response. */
async function chooseMethod(page, methodName) {
  const method = page.locator('.method', { hasText: methodName });
  await method.locator('input[type=radio]').check();
  const confirmResponse = page.waitForResponse((r) => r.url().endsWith('/checkout/confirm'));
  await page.click('#delivery-next');
  await page.waitForURL('**/checkout/confirm');
  return confirmResponse;
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
  const response = await chooseMethod(page, 'クレジットカード決済');
  const contentType = (await response.headerValue('content-type')) ?? '';
  check(/charset=Shift_JIS/i.test(contentType), `the confirm page is served as ${contentType}`);
  const form = page.locator('#purchase_form');
  check(
    (await form.getAttribute('accept-charset')) === 'Shift_JIS',
    'the gateway form lacks accept-charset="Shift_JIS"',
  );
  check(
    (await page.textContent('main')).includes('クレジットカード決済'),
    'the confirm page does not name the payment method',
  );
  await shot(page, '04-confirm-card');

  await page.getByRole('button', { name: '上記内容で注文する' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  const nextYear = String((new Date().getFullYear() + 2) % 100).padStart(2, '0');
  await page.fill('#cardno', '4111111111111111');
  await page.fill('#expire', `12/${nextYear}`);
  await page.fill('#holder', 'TARO YAMADA');
  await shot(page, '05-sandbox-card');
  await page.getByRole('button', { name: '支払う', exact: true }).click();

  const orderNumber = await waitForOrder(page);
  await shot(page, '06-complete-card');
  console.log(`card purchase: order ${orderNumber} (${await page.textContent('#payment-status')})`);
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
    const response = await fetch(`${shop}/admin/api/orders?link_key=${linkKey}`, {
      headers: { Authorization: `Bearer ${adminToken}` },
    });
    check(response.ok, `the admin API answered ${response.status}`);
    const { orders } = await response.json();
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
  await page.getByRole('button', { name: '上記内容で注文する' }).click();
  await page.waitForURL(`${sandbox}/rpgw2/**`);
  await page.fill('#cardno', '4111111111111111');
  await page.fill('#expire', '12/30');
  await page.fill('#holder', 'HANAKO KAIIN');
  await page.getByRole('button', { name: '支払う', exact: true }).click();
  const orderNumber = await waitForOrder(page);

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
  await page.fill('#expire', '11/31');
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
let page;
try {
  const context = await browser.newContext({ locale: 'ja-JP' });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  await cardPurchase(page);
  await convPurchase(page);
  await memberCardChange(page);
  await memberSubscription(page);
  console.log('browser: 4 passed, 0 failed');
} catch (error) {
  console.error(`browser test failed: ${error.stack ?? error}`);
  if (page) {
    console.error(`at ${page.url()}`);
    await shot(page, 'failure').catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
