// `notify`: tells the customer their order is on its way. A Node.js Lambda handler, run
// by the rule that matches the workflow's `OrderShipped` event (source `shop.orders`), so
// it receives the EventBridge event and reads its `detail`.
//
// It writes the message it would mail to its log (`cirrus logs notify`); a real shop
// would hand it to a mail service here.

export const handler = async (event) => {
  const d = event?.detail ?? {};
  for (const field of ['orderId', 'email', 'trackingNumber']) {
    if (typeof d[field] !== 'string' || d[field] === '') {
      throw new TypeError(`detail.${field}: required in an OrderShipped event`);
    }
  }
  const total = Number.isInteger(d.total) ? ` (${(d.total / 100).toFixed(2)} ${d.currency ?? ''})` : '';
  const subject = `Your order ${d.orderId} is on its way`;
  console.log(`mail to ${d.email}: ${subject}${total}, tracking ${d.trackingNumber}`);
  return { sent: true, to: d.email, subject };
};
