// A parser for text/event-stream (the HTML "server-sent events" format),
// for browsers and runtimes without EventSource or where the request must
// go through a given fetch.

/** StreamEvent is one dispatched event. */
export interface StreamEvent {
  /** The event type; "message" when the stream named none. */
  event: string
  data: string
  id: string
}

/**
 * EventStreamParser turns chunks of a text/event-stream body into events.
 * Lines end with CRLF, LF or CR; comment lines (": ping") are ignored; a
 * blank line dispatches the event gathered so far; an event without data
 * lines is not dispatched, as the format says.
 */
export class EventStreamParser {
  #buf = ''
  #event = ''
  #data: string[] = []
  #id = ''
  #pendingCR = false
  #onEvent: (e: StreamEvent) => void
  /** retry is the last reconnection time the stream asked for, in ms. */
  retry: number | undefined

  constructor(onEvent: (e: StreamEvent) => void) {
    this.#onEvent = onEvent
  }

  /** push feeds decoded text; complete lines are processed at once. */
  push(chunk: string): void {
    let text = chunk
    if (this.#pendingCR && text.startsWith('\n')) text = text.slice(1)
    this.#pendingCR = false
    this.#buf += text
    let start = 0
    for (let i = 0; i < this.#buf.length; i++) {
      const c = this.#buf[i]
      if (c !== '\n' && c !== '\r') continue
      const line = this.#buf.slice(start, i)
      if (c === '\r') {
        if (i + 1 < this.#buf.length) {
          if (this.#buf[i + 1] === '\n') i++
        } else {
          this.#pendingCR = true
        }
      }
      start = i + 1
      this.#line(line)
    }
    this.#buf = this.#buf.slice(start)
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch()
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (field) {
      case 'event':
        this.#event = value
        break
      case 'data':
        this.#data.push(value)
        break
      case 'id':
        if (!value.includes('\0')) this.#id = value
        break
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value)
        break
    }
  }

  #dispatch(): void {
    const event = this.#event || 'message'
    const data = this.#data
    this.#event = ''
    this.#data = []
    if (data.length === 0) return
    this.#onEvent({ event, data: data.join('\n'), id: this.#id })
  }
}
