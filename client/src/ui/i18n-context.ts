// The current language for components, and the translate function bound to it.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { translate, type Lang, type StringKey } from '../i18n/i18n.ts';

export const LangContext = createContext<Lang>('en');

export function useT(): (key: StringKey, vars?: Record<string, string | number>) => string {
  const lang = useContext(LangContext);
  return (key, vars) => translate(lang, key, vars);
}

export function useLang(): Lang {
  return useContext(LangContext);
}
