/**
 * The page's two views, as tabs: the Random Hierarchy Model (main.ts, always loaded) and real
 * digits (digitsView.ts, loaded with onnxruntime-web and the models only when first opened). The
 * URL's `view` says which is shown; `<html data-view>` too. The view that is hidden stops (RHM)
 * or pauses (digits) its computations.
 */
import { digitsFromQuery, viewFromQuery, viewToQuery, type DigitsState, type View } from './digitsParams.ts';

interface DigitsHandle {
  setActive(active: boolean): void;
}

export interface ViewHooks {
  /** The URL (share link) must be rewritten. */
  updateUrl(): void;
  /** The RHM view is shown (true) or hidden (false). */
  showRhm(shown: boolean): void;
}

let view: View = viewFromQuery(location.search);
let digitsState: DigitsState = digitsFromQuery(location.search);
let digits: Promise<DigitsHandle> | null = null;
let hooks: ViewHooks | null = null;

/** The views' part of the share URL (empty in the RHM view). */
export function viewQuery(): string {
  return viewToQuery(view, digitsState);
}

const $ = (id: string) => document.getElementById(id)!;

/** The URL changed: the address bar (main.ts's updateUrl) and the digits view's share field. */
function urlChanged(): void {
  hooks!.updateUrl();
  ($('digits-share-url') as HTMLInputElement).value = location.href;
}

function show(next: View): void {
  view = next;
  document.documentElement.dataset.view = next;
  for (const v of ['rhm', 'digits'] as const) {
    $(`${v}-view`).hidden = v !== next;
    const tab = $(`tab-${v}`);
    tab.setAttribute('aria-selected', String(v === next));
    tab.tabIndex = v === next ? 0 : -1;
  }
  hooks!.showRhm(next === 'rhm');
  if (next === 'digits' && !digits) {
    digits = import('./digitsView.ts').then((m) =>
      m.openDigitsView({
        state: () => digitsState,
        setState: (st) => {
          digitsState = st;
          urlChanged();
        },
      }),
    );
    digits.catch((e: unknown) => {
      $('digits-mode').textContent = `The digits view failed to load: ${e instanceof Error ? e.message : String(e)}`;
    });
  } else if (digits) void digits.then((d) => d.setActive(next === 'digits'));
  urlChanged();
}

/** Wires the tabs and shows the view the URL names. */
export function initViews(h: ViewHooks): void {
  hooks = h;
  for (const v of ['rhm', 'digits'] as const) $(`tab-${v}`).addEventListener('click', () => v !== view && show(v));
  $('digits-copy').addEventListener('click', () => {
    const input = $('digits-share-url') as HTMLInputElement;
    input.select();
    void navigator.clipboard?.writeText(input.value).catch(() => undefined);
  });
  $('tabs').addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const next = view === 'rhm' ? 'digits' : 'rhm';
    show(next);
    $(`tab-${next}`).focus();
  });
  show(view);
}
