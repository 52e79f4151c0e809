// Calls aside-server's monitoring procedures with a stock @trpc/client and
// prints what came back as JSON: node check.mjs <base URL> <admin token>
import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError } from '@trpc/client';

const [base, token] = process.argv.slice(2);
const url = `${base}/trpc`;
const admin = createTRPCClient({ links: [httpBatchLink({ url, headers: () => ({ authorization: `Bearer ${token}` }) })] });
const anonymous = createTRPCClient({ links: [httpLink({ url })] });

const out = {};
// Two queries and a mutation in flight together: httpBatchLink batches the queries.
const [stats, again] = await Promise.all([
  admin.monitoring.cacheStats.query(),
  admin.monitoring.cacheStats.query(),
]);
out.stats = stats;
out.statsAgain = again.hits;
out.pattern = await admin.monitoring.cacheClearPattern.mutate({ pattern: 'user:*' });
out.clear = await admin.monitoring.cacheClear.mutate();
try {
  await anonymous.monitoring.cacheClear.mutate();
  out.anonymous = 'no error';
} catch (e) {
  out.anonymous = e instanceof TRPCClientError ? { code: e.data?.code, httpStatus: e.data?.httpStatus, message: e.message } : String(e);
}
try {
  await admin.monitoring.cacheClearPattern.mutate({ pattern: '' });
  out.badPattern = 'no error';
} catch (e) {
  out.badPattern = e instanceof TRPCClientError ? { code: e.data?.code, httpStatus: e.data?.httpStatus } : String(e);
}
console.log(JSON.stringify(out));
