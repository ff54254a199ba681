// Server-side search and the user directory.
export { Search, SEARCH_DEFAULT_LIMIT, type RoomEventsCriteria, type RoomEventsResults } from './search.ts'
export { UserDirectory } from './user-directory.ts'
export { indexAppended, searchTextOf } from './indexer.ts'
export { KEY_TYPES, type SearchKey } from './text.ts'
