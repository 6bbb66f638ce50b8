/*
 * MSS Platform gateway helpers (njs 0.7.9: ES5 style only - var, function, no
 * destructuring, no for...of, no async). Every export is a synchronous js_set handler.
 *
 * Nothing here reads a token's claims: authentication is the introspection endpoint's
 * (auth_request), and the rate-limit budgets are keyed on the identity it verified
 * (nginx.conf). The services verify the token again.
 *
 * Module top-level code runs on every request: keep it to constants.
 */

var WS_PATH = '/api/notifications/ws';
var MAX_PATH_LENGTH = 1024;

/*
 * The path the client asked for. js_set also runs inside the auth_request subrequest,
 * where r.uri is the subrequest's and r.parent is undefined, but $request_uri is still
 * the client's (raw: an unnormalised spelling of the path just does not match).
 */
function clientPath(r) {
    var raw = r.rawVariables.request_uri;
    var requestUri = raw ? raw.toString() : '';
    var query = requestUri.indexOf('?');
    return query < 0 ? requestUri : requestUri.slice(0, query);
}

/* The token the websocket client sends as "Sec-WebSocket-Protocol: bearer, <token>". */
function websocketToken(r) {
    if (clientPath(r) !== WS_PATH) {
        return '';
    }
    var proto = r.headersIn['Sec-WebSocket-Protocol'];
    if (!proto) {
        return '';
    }
    var parts = proto.split(',');
    if (parts.length < 2 || parts[0].trim().toLowerCase() !== 'bearer') {
        return '';
    }
    return parts[1].trim();
}

/* The Authorization header the introspection endpoint should check. */
function introspectAuthorization(r) {
    var auth = r.headersIn['Authorization'];
    if (auth) {
        return auth;
    }
    var ws = websocketToken(r);
    return ws ? 'Bearer ' + ws : '';
}

/* Cache key of the introspection answer: a hash, so no token is written to disk. */
function introspectCacheKey(r) {
    var crypto = require('crypto');
    return crypto.createHash('sha256').update(introspectAuthorization(r)).digest('base64url');
}

function unicodeEscape(c) {
    return '\\u' + ('0000' + c.toString(16)).slice(-4);
}

/* Escapes one string for use inside a JSON string literal (ASCII output). */
function jsonEscape(s) {
    var out = '';
    for (var i = 0; i < s.length; i++) {
        var c = s.charCodeAt(i);
        if (c === 34) {
            out += '\\"';
        } else if (c === 92) {
            out += '\\\\';
        } else if (c >= 32 && c < 127) {
            out += s.charAt(i);
        } else if (c <= 0xffff) {
            out += unicodeEscape(c);
        } else {
            c -= 0x10000;
            out += unicodeEscape(0xd800 + (c >> 10)) + unicodeEscape(0xdc00 + (c & 0x3ff));
        }
    }
    return out;
}

/*
 * js_set $mss_error_path: the decoded request path, escaped for the error envelope.
 * r.uri is a byte string in njs 0.7.9; the raw variable is decoded as UTF-8 instead
 * (invalid bytes become U+FFFD).
 */
function errorPath(r) {
    try {
        var raw = r.rawVariables.uri;
        var uri = raw ? raw.toString() : '';
        if (uri.length > MAX_PATH_LENGTH) {
            uri = uri.slice(0, MAX_PATH_LENGTH);
        }
        return jsonEscape(uri);
    } catch (e) {
        return '';
    }
}

/*
 * js_set $mss_request_path: the path as the client sent it (still percent-encoded, no
 * query), escaped for the envelope of errors answered after an internal redirect.
 */
function requestPath(r) {
    try {
        var path = clientPath(r);
        if (path.length > MAX_PATH_LENGTH) {
            path = path.slice(0, MAX_PATH_LENGTH);
        }
        return jsonEscape(path);
    } catch (e) {
        return '';
    }
}

export default {
    introspectAuthorization: introspectAuthorization,
    introspectCacheKey: introspectCacheKey,
    errorPath: errorPath,
    requestPath: requestPath
};
