// /app/login: the login form; on success, back to where the user was going.

import { post } from '../api.js';
import { clearNotices, h } from '../dom.js';

export function mount(root, _params, { navigate }) {
  const next = new URLSearchParams(location.search).get('next');
  const target = next && next.startsWith('/app/') && !next.startsWith('/app/login') ? next : '/app/dash';
  const error = h('p', { class: 'form-error', role: 'alert', id: 'login-error' });
  const user = h('input', { type: 'text', id: 'login-user', name: 'user', autocomplete: 'username', required: true });
  const pass = h('input', { type: 'password', id: 'login-password', name: 'password',
    autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'primary', text: 'Log in' });
  const form = h('form', { class: 'floe-form card', 'aria-describedby': 'login-error' },
    h('h1', { text: 'Log in to floe' }),
    h('p', { class: 'how', id: 'login-how', text: 'Use a user and password from the app document (common.users), '
      + 'or user admin with the engine\'s admin token (its -admin flag) as the password.' }),
    h('div', { class: 'field' }, h('label', { for: 'login-user', text: 'User' }), user),
    h('div', { class: 'field' }, h('label', { for: 'login-password', text: 'Password' }), pass),
    error, h('div', {}, button));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      await post('/login', { User: user.value, Password: pass.value });
      clearNotices();
      navigate(target, { replace: true });
    } catch (err) {
      error.textContent = err.status === 401 ? `Login failed: ${err.message}` : `Could not log in: ${err.message}`;
      pass.select();
    } finally {
      button.disabled = false;
    }
  });
  root.append(h('div', { class: 'login' }, form));
  user.focus();
  return {};
}
