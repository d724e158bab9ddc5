// A page: its heading (focused by the app after each navigation, so screen-reader and keyboard
// users start at the top of the new content) and the document title.
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';

export function Page(props: { title: string; children?: ComponentChildren; actions?: ComponentChildren }) {
  useEffect(() => { document.title = `${props.title} – callvault`; }, [props.title]);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>{props.title}</h1>
        {props.actions}
      </div>
      {props.children}
    </>
  );
}
