// `page`: pages whoever is on call about a heat alert. A Node.js Lambda handler (CommonJS),
// called by the `heat-alert` workflow with the reading and its severity.
//
// It writes the page to its log (`cirrus logs page`); a real deployment would call a
// paging service here. It answers `{paged: true, severity, message}`.

exports.handler = async (alert) => {
  const { sensor, temperature, threshold, severity } = alert ?? {};
  if (typeof sensor !== 'string' || typeof temperature !== 'number') {
    throw new TypeError('an alert needs a sensor and a temperature');
  }
  const message = `${severity === 'critical' ? 'CRITICAL' : 'warning'}: ${sensor} is at ${temperature.toFixed(1)} °C (limit ${threshold} °C)`;
  console.log(`paging on-call: ${message}`);
  return { paged: true, severity, message };
};
