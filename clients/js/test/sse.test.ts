// The text/event-stream parser, with the protocol of
// GET /api/auth/session-v2/stream and the format's corner cases.
import { describe, expect, test } from 'vitest'
import { EventStreamParser, type StreamEvent } from '@sessiond/client'

function parse(chunks: string[]): { events: StreamEvent[]; parser: EventStreamParser } {
  const events: StreamEvent[] = []
  const parser = new EventStreamParser((e) => events.push(e))
  for (const c of chunks) parser.push(c)
  return { events, parser }
}

describe('EventStreamParser', () => {
  test('the session stream: ready, heartbeats, changed, then a final revoked', () => {
    const { events } = parse([
      'event: ready\ndata: {}\n\n',
      ': ping\n\n',
      'event: changed\ndata: {}\n\n',
      ': ping\n',
      'event: revoked\ndata: {"reason":"revoked"}\n\n',
    ])
    expect(events).toEqual([
      { event: 'ready', data: '{}', id: '' },
      { event: 'changed', data: '{}', id: '' },
      { event: 'revoked', data: '{"reason":"revoked"}', id: '' },
    ])
  })

  test('chunks split anywhere, even inside a CRLF, give the same events', () => {
    const text = 'event: expired\r\ndata: {"reason":"expired"}\r\n\r\nevent: unknown\rdata: {"reason":"unavailable"}\r\r'
    const whole = parse([text]).events
    for (let i = 1; i < text.length; i++) {
      expect(parse([text.slice(0, i), text.slice(i)]).events, `split at ${i}`).toEqual(whole)
    }
    expect(parse([...text]).events).toEqual(whole)
    expect(whole.map((e) => e.event)).toEqual(['expired', 'unknown'])
  })

  test('multi-line data, no space after the colon, id and retry fields, unnamed events', () => {
    const { events, parser } = parse(['id: 7\nretry: 2500\ndata:a\ndata: b\n\n', 'data\n\n'])
    expect(events).toEqual([
      { event: 'message', data: 'a\nb', id: '7' },
      { event: 'message', data: '', id: '7' },
    ])
    expect(parser.retry).toBe(2500)
  })

  test('an event without data or without its blank line is not dispatched', () => {
    expect(parse(['event: changed\n\n']).events).toEqual([])
    expect(parse(['event: revoked\ndata: {}\n']).events).toEqual([])
  })
})
