import { withServerSession } from '@sessiond/next'

// The design note's route, as written there.
export const GET = withServerSession(async (req) => {
  if (!req.session) return Response.json({ error: 'Unauthorized' }, { status: 401 })
  return Response.json({ tenantId: req.session.user.tenantId })
})
