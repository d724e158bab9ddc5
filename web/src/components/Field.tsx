// Labelled form controls: every input has a visible <label>, hints are tied to it with
// aria-describedby, and errors are announced.
import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';

export interface TextFieldProps {
  label: string;
  value: string;
  onValue: (v: string) => void;
  hint?: string;
  type?: 'text' | 'password' | 'tel' | 'date' | 'datetime-local' | 'number';
  required?: boolean;
  minLength?: number;
  maxLength?: number;
  min?: number;
  step?: number;
  pattern?: string;
  inputMode?: 'numeric' | 'text' | 'tel';
  autocomplete?: string;
  autoCapitalize?: 'none' | 'off';
  spellcheck?: boolean;
  list?: string;
}

export function TextField(props: TextFieldProps) {
  const { label, value, onValue, hint, type, ...rest } = props;
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} type={(type ?? 'text') as 'text'} value={value} onInput={(e) => onValue(e.currentTarget.value)} aria-describedby={hint ? `${id}-hint` : undefined} {...rest} />
      {hint ? <p class="hint" id={`${id}-hint`}>{hint}</p> : null}
    </div>
  );
}

export function SelectField(props: { label: string; value: string; onValue: (v: string) => void; options: Array<[string, string]>; name?: string }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select id={id} name={props.name} value={props.value} onChange={(e) => props.onValue(e.currentTarget.value)}>
        {props.options.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
      </select>
    </div>
  );
}

export function TextArea(props: { label: string; value: string; onValue: (v: string) => void; hint?: string; required?: boolean; minLength?: number; maxLength?: number; rows?: number }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <textarea id={id} value={props.value} rows={props.rows ?? 3} required={props.required} minLength={props.minLength} maxLength={props.maxLength}
        aria-describedby={props.hint ? `${id}-hint` : undefined} onInput={(e) => props.onValue(e.currentTarget.value)} />
      {props.hint ? <p class="hint" id={`${id}-hint`}>{props.hint}</p> : null}
    </div>
  );
}

/** A group of checkboxes (or radios) under one legend. */
export function Choices(props: { legend: string; type: 'checkbox' | 'radio'; options: Array<[string, string]>; selected: string[]; onChange: (v: string[]) => void; name: string; inline?: boolean }) {
  const toggle = (v: string, on: boolean) => {
    if (props.type === 'radio') props.onChange([v]);
    else props.onChange(on ? [...props.selected, v] : props.selected.filter((x) => x !== v));
  };
  return (
    <fieldset class={props.inline ? 'choices inline' : 'choices'}>
      <legend>{props.legend}</legend>
      {props.options.map(([v, l]) => (
        <label key={v} class="choice">
          <input type={props.type} name={props.name} value={v} checked={props.selected.includes(v)} onChange={(e) => toggle(v, e.currentTarget.checked)} />
          {l}
        </label>
      ))}
    </fieldset>
  );
}

/** An error, announced as it appears (role="alert"); marked with a word, not colour alone. */
export function ErrorText(props: { children?: ComponentChildren }) {
  if (!props.children) return null;
  return <p class="error" role="alert"><strong class="tag">!</strong> {props.children}</p>;
}

export { errorText } from '../errors';
