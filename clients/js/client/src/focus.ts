// Focus and online state behind two tiny managers, after TanStack Query's
// focusManager and onlineManager: nothing touches `window` or `document`
// until the first subscriber arrives (server rendering imports this code),
// and tests drive them with setFocused and setOnline.

type Listener = (value: boolean) => void
/** Setup installs browser event listeners that call `set`, and returns their removal. */
export type EventSetup = (set: (value: boolean) => void) => (() => void) | undefined

class Signal {
  #value: boolean | undefined
  #listeners = new Set<Listener>()
  #setup: EventSetup
  #cleanup: (() => void) | undefined
  #fallback: () => boolean

  constructor(setup: EventSetup, fallback: () => boolean) {
    this.#setup = setup
    this.#fallback = fallback
  }

  /** subscribe calls listener on every change; it returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener)
    if (this.#listeners.size === 1) this.#cleanup = this.#setup((v) => this.set(v))
    return () => {
      this.#listeners.delete(listener)
      if (this.#listeners.size === 0) {
        this.#cleanup?.()
        this.#cleanup = undefined
      }
    }
  }

  /** setEventListener replaces how browser events reach the manager (React Native, tests). */
  setEventListener(setup: EventSetup): void {
    this.#setup = setup
    if (this.#listeners.size > 0) {
      this.#cleanup?.()
      this.#cleanup = setup((v) => this.set(v))
    }
  }

  protected set(value: boolean): void {
    if (this.#value === value) return
    this.#value = value
    for (const l of [...this.#listeners]) l(value)
  }

  protected get(): boolean {
    return this.#value ?? this.#fallback()
  }
}

/** FocusManager tells whether the page is visible and when it becomes so. */
export class FocusManager extends Signal {
  constructor() {
    super(
      (set) => {
        if (typeof document === 'undefined' || typeof window === 'undefined' || !window.addEventListener) return undefined
        const onChange = () => set(document.visibilityState !== 'hidden')
        window.addEventListener('visibilitychange', onChange, false)
        return () => window.removeEventListener('visibilitychange', onChange)
      },
      () => typeof document === 'undefined' || document.visibilityState !== 'hidden',
    )
  }
  /** setFocused sets the focus state; a change notifies the subscribers. */
  setFocused(focused: boolean): void {
    this.set(focused)
  }
  isFocused(): boolean {
    return this.get()
  }
}

/** OnlineManager tells whether the browser is online and when it comes back. */
export class OnlineManager extends Signal {
  constructor() {
    super(
      (set) => {
        if (typeof window === 'undefined' || !window.addEventListener) return undefined
        const online = () => set(true)
        const offline = () => set(false)
        window.addEventListener('online', online, false)
        window.addEventListener('offline', offline, false)
        return () => {
          window.removeEventListener('online', online)
          window.removeEventListener('offline', offline)
        }
      },
      () => true,
    )
  }
  /** setOnline sets the online state; a change notifies the subscribers. */
  setOnline(online: boolean): void {
    this.set(online)
  }
  isOnline(): boolean {
    return this.get()
  }
}

/** focusManager is shared by every session manager that is not given its own. */
export const focusManager = new FocusManager()
/** onlineManager is shared by every session manager that is not given its own. */
export const onlineManager = new OnlineManager()
