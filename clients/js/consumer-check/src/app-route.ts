// The design note's API route snippet for the App Router, as the issue writes it.
import { withServerSession } from '@sessiond/next'

export const GET = withServerSession(async (req) => {
  if (!req.session) return Response.json({ error: 'Unauthorized' }, { status: 401 })
  return Response.json({ tenantId: req.session.user.tenantId })
})

// A dynamic segment's context passes through.
export const DELETE = withServerSession(async (req, ctx: { params: Promise<{ id: string }> }) => {
  const { id } = await ctx.params
  return Response.json({ id, path: req.nextUrl.pathname, user: req.session?.user.id ?? null })
})

// What Next's route type check asks of an exported handler.
const check: (req: Request, ctx: { params: Promise<Record<string, string>> }) => Promise<Response> = GET
void check
