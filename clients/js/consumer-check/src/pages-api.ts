// A Pages Router API route (pages/api/tenant.ts).
import type { NextApiResponse } from 'next'
import { withServerSession, type SessionApiRequest } from '@sessiond/next'

export default withServerSession(async (req: SessionApiRequest, res: NextApiResponse) => {
  if (!req.session) return res.status(401).json({ error: 'Unauthorized' })
  res.json({ tenantId: req.session.user.tenantId })
})
